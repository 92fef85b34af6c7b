import { gunzipSync } from 'node:zlib';
import { expect } from 'chai';
import type { DataSyncEmulator, ExchangeRecord } from '../../../src/emulators/datasync/index.js';
import {
  createCourseExchange,
  person,
  scoresChunk,
  startWithExchange,
  type Api,
} from './helpers.js';

/** Fetches an artifact and gunzips it, checking it is served as raw .json.gz bytes. */
async function artifact(api: Api, id: string, which: 'details' | 'consumerlogs') {
  const res = await api.fetch('GET', `/exchanges/${id}/artifacts/${which}`);
  expect(res.status).to.equal(200);
  expect(res.headers.get('content-type')).to.equal('application/octet-stream');
  expect(res.headers.get('content-encoding')).to.equal(null);
  const bytes = Buffer.from(await res.arrayBuffer());
  expect([...bytes.subarray(0, 2)]).to.deep.equal([0x1f, 0x8b]); // gzip magic
  return JSON.parse(gunzipSync(bytes).toString('utf8'));
}

describe('Data Sync emulator: exchange data', () => {
  let ds: DataSyncEmulator;
  let api: Api;
  let exchange: ExchangeRecord;
  const data = (body: unknown, id = exchange.id) => api.post(`/exchanges/${id}/data`, body);

  beforeEach(async () => {
    ({ ds, api, exchange } = await startWithExchange());
  });
  afterEach(() => ds.close());

  it('moves created → in_progress → completed, recording each chunk', async () => {
    const first = await data(scoresChunk('q1', [['s1', 90]]));
    expect(first.status).to.equal(200);
    expect(first.body).to.deep.equal({ data: null });
    expect(ds.exchange(exchange.id)!.state).to.equal('in_progress');
    expect((await data(scoresChunk('q2', [['s1', 80]]), exchange.id)).status).to.equal(200);
    expect(ds.exchange(exchange.id)!.state).to.equal('in_progress');
    expect((await data({ summaries: [], final: true })).status).to.equal(200);
    const record = ds.exchange(exchange.id)!;
    expect(record.state).to.equal('completed');
    expect(record.chunks.map((c) => [c.index, c.final])).to.deep.equal([
      [0, false],
      [1, false],
      [2, true],
    ]);
    expect(record.chunks[0]!.bytes).to.equal(
      Buffer.byteLength(JSON.stringify(scoresChunk('q1', [['s1', 90]]))),
    );
    expect(record.chunks[0]!.body).to.deep.equal(scoresChunk('q1', [['s1', 90]]));
    expect(Date.parse(record.chunks[0]!.receivedAt)).to.not.be.NaN;
    expect((await api.get(`/exchanges/${exchange.id}`)).body.data.state).to.equal('completed');
  });

  it('accepts a body exactly at max_data_content_length and refuses one byte more', async () => {
    // Multi-byte characters: the limit is in bytes, not characters.
    const body = JSON.stringify(scoresChunk('é-quiz', [['Zoë', 9.5]]));
    const size = Buffer.byteLength(body);
    expect(size).to.be.above(body.length);
    const atLimit = createCourseExchange(ds, 'C', { maxDataContentLength: size });
    expect((await data(body, atLimit.id)).status).to.equal(200);

    const under = createCourseExchange(ds, 'C', { maxDataContentLength: size - 1 });
    const over = await data(body, under.id);
    expect(over.status).to.equal(400);
    expect(over.body.errors[0].message)
      .to.include(String(size))
      .and.include(String(size - 1));
    const record = ds.exchange(under.id)!;
    expect(record.chunks).to.deep.equal([]);
    expect(record.state).to.equal('created');
    expect(record.rejected).to.have.length(1);
    expect(record.rejected[0]).to.include({ status: 400, bytes: size });
  });

  it('counts a byte-identical chunk as a duplicate, and received() shows it', async () => {
    const chunk = scoresChunk('q1', [
      ['s1', 90],
      ['s2', null],
    ]);
    await data(chunk);
    await data(scoresChunk('q2', [['s1', 70]]));
    expect((await data(chunk)).status).to.equal(200);
    const record = ds.exchange(exchange.id)!;
    expect(record.chunks.map((c) => c.duplicateOf)).to.deep.equal([undefined, undefined, 0]);
    expect(ds.stats.duplicateChunks).to.equal(1);
    // Same content, other bytes: not a duplicate.
    await api.post(`/exchanges/${exchange.id}/data`, JSON.stringify(chunk, null, 1));
    expect(ds.stats.duplicateChunks).to.equal(1);

    const received = ds.received(exchange.id);
    expect(
      received.scores.map((s) => [s.assignmentSourceId, s.personSourceId, s.score, s.chunk]),
    ).to.deep.equal([
      ['q1', 's1', 90, 0],
      ['q1', 's2', null, 0],
      ['q2', 's1', 70, 1],
      ['q1', 's1', 90, 2],
      ['q1', 's2', null, 2],
      ['q1', 's1', 90, 3],
      ['q1', 's2', null, 3],
    ]);
    expect(received.scores[0]).to.include({ assignmentSysId: 'sys-q1', personSysId: 'sys-s1' });
    expect(received.assignments.map((a) => a.chunk)).to.deep.equal([0, 1, 2, 3]);
    expect(() => ds.received('nope')).to.throw(/Unknown exchange/);
  });

  it('on final, produces the details and consumer logs artifacts (gzipped JSON)', async () => {
    ds.failPerson('s2', 'student_not_enrolled');
    await data(
      scoresChunk('q1', [
        ['s1', 90],
        ['s2', 75],
      ]),
    );
    // A re-sent score replaces the earlier one in what the SIS holds.
    await data({
      ...scoresChunk('q1', [['s1', 95]]),
      summaries: [
        {
          $person: person('s1'),
          $section: { name: 'Period 1', $sys: { id: 'sec-1' } },
          summary_type: 'final',
          score_type: 'percentage',
          score: 93.5,
          grade: 'A',
          comments: ['well done'],
        },
      ],
      final: true,
    });
    expect(ds.exchange(exchange.id)!.state).to.equal('completed');

    const details = await artifact(api, exchange.id, 'details');
    expect(details.exchange_id).to.equal(exchange.id);
    expect(details.assignments).to.have.length(1);
    const [assignment] = details.assignments;
    expect(assignment).to.include({
      name: 'Assignment q1',
      sync_status: 'synced',
      error_code: null,
    });
    expect(
      assignment.scores.map((s: { $person: { name: string } } & Record<string, unknown>) => [
        s.$person.name,
        s.score,
        s.sync_status,
        s.error_code,
      ]),
    ).to.deep.equal([
      ['s1', 95, 'synced', null],
      ['s2', 75, 'failed', 'student_not_enrolled'],
    ]);
    expect(details.summaries).to.have.length(1);
    expect(details.summaries[0]).to.include({
      score: 93.5,
      summary_type: 'final',
      score_type: 'percentage',
      sync_status: 'synced',
    });
    expect(ds.exchange(exchange.id)!.artifacts.details).to.deep.equal(details);

    const logs = await artifact(api, exchange.id, 'consumerlogs');
    expect(logs.map((l: { action: string }) => l.action)).to.deep.equal([
      'upsert_assignment',
      'upsert_score',
      'upsert_score',
      'upsert_summary',
    ]);
    expect(logs[2]).to.include({
      level: 'error',
      result: 'failed',
      error_code: 'student_not_enrolled',
    });
    expect(logs[2].person).to.deep.equal({ id: 'sys-s2', source_id: 's2', name: 's2' });
    expect(logs[0].consumer_id).to.equal('sample-sis-consumer');
    expect(ds.exchange(exchange.id)!.artifacts.consumerLogs).to.deep.equal(logs);
  });

  it('serves no artifact (404) before completion, nor consumer logs when nothing was sent', async () => {
    await data(scoresChunk('q1', [['s1', 1]]));
    for (const which of ['details', 'consumerlogs']) {
      const res = await api.get(`/exchanges/${exchange.id}/artifacts/${which}`);
      expect(res.status).to.equal(404);
      expect(res.body.errors[0].message).to.match(/in_progress/);
    }
    const empty = createCourseExchange(ds);
    await data({ final: true }, empty.id);
    const details = await artifact(api, empty.id, 'details');
    expect(details).to.include({ exchange_id: empty.id });
    expect(details.assignments).to.deep.equal([]);
    expect((await api.get(`/exchanges/${empty.id}/artifacts/consumerlogs`)).status).to.equal(404);

    const failed = createCourseExchange(ds);
    await api.post(`/exchanges/${failed.id}/errors`, { code: 'producer_failure' });
    expect((await api.get(`/exchanges/${failed.id}/artifacts/details`)).status).to.equal(404);
    const unknown = '123e4567-e89b-12d3-a456-426614174000';
    expect((await api.get(`/exchanges/${unknown}/artifacts/details`)).status).to.equal(404);
  });

  it('refuses data on a completed exchange, noting the refused post', async () => {
    const last = scoresChunk('q1', [['s1', 1]], true);
    await data(last);
    const res = await data(last);
    expect(res.status).to.equal(400);
    expect(res.body.errors[0].message).to.match(/completed/);
    const record = ds.exchange(exchange.id)!;
    expect(record.chunks).to.have.length(1);
    expect(record.rejected[0]).to.include({ status: 400, duplicateOf: 0 });
    expect(ds.stats.duplicateChunks).to.equal(0);
  });

  it('refuses malformed data with 400 naming the problem, never 500', async () => {
    const bad: Array<[unknown, RegExp]> = [
      [[], /body must be an object/],
      ['null', /body must be an object/],
      [{ assignments: {} }, /assignments must be an array/],
      [{ assignments: [42] }, /assignments\[0\] must be an object/],
      [{ assignments: [{ name: 'x' }] }, /assignments\[0\]\.\$sys/],
      [{ assignments: [{ $sys: {}, scores: [{ score: 1 }] }] }, /scores\[0\]\.\$person/],
      [
        { assignments: [{ $sys: {}, scores: [{ $person: person('a'), score: '90' }] }] },
        /assignments\[0\]\.scores\[0\]\.score must be a number or null/,
      ],
      [{ assignments: [{ $sys: { source_id: { sis: 5 } } }] }, /source_id/],
      [{ assignments: [{ $sys: {}, points_possible: 'ten' }] }, /points_possible/],
      [{ assignments: [{ $sys: {}, due_at: 'tomorrow' }] }, /due_at must be an ISO 8601/],
      [{ summaries: [{ $person: person('a'), summary_type: 'weekly' }] }, /midterm, final/],
      [{ summaries: [{ $person: person('a'), score_type: 'letter' }] }, /raw, percentage/],
      [{ summaries: [{ $person: { $sys: [] } }] }, /\$person\.\$sys must be an object/],
      [{ summaries: [{ $person: person('a'), comments: 'ok' }] }, /comments/],
      [{ final: 'yes' }, /final must be a boolean/],
      ['{"final": tru', /not valid JSON/],
      ['', /body must be an object/],
    ];
    for (const [body, message] of bad) {
      const res = await data(body);
      expect(res.status, JSON.stringify(body)).to.equal(400);
      expect(res.body.errors[0].message, JSON.stringify(body)).to.match(message);
    }
    const typed = await api.call('POST', `/exchanges/${exchange.id}/data`, '{}', {
      'Content-Type': 'text/plain',
    });
    expect(typed.status).to.equal(415);
    const record = ds.exchange(exchange.id)!;
    expect(record.chunks).to.deep.equal([]);
    expect(record.state).to.equal('created');
    expect(record.rejected).to.have.length(bad.length);
  });

  it('takes extra properties and nulls where the spec allows them', async () => {
    const res = await data({
      assignments: [
        {
          $sys: { id: 'a', source_id: null, app_id: { lms: '1' }, extra: true },
          $section: null,
          name: null,
          description: null,
          $ext: { anything: [1, 2] },
          scores: [
            {
              $person: { $sys: { id: 'p' } },
              $grader: null,
              score: null,
              grade: null,
              late: null,
              excused: true,
              error_code: 'assignment_group_missing_name',
              sync_status: 'pending',
              submitted_at: '2025-06-14T12:04:45.289Z',
              vendor_field: 'kept',
            },
          ],
        },
      ],
      summaries: null,
      final: null,
      note: 'extra',
    });
    expect(res.status).to.equal(200);
    expect(ds.exchange(exchange.id)!.state).to.equal('in_progress');
  });
});
