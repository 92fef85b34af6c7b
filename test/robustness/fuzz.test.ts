import { expect } from 'chai';
import fc from 'fast-check';
import { createSign, type KeyObject } from 'node:crypto';
import zlib from 'node:zlib';
import { isoNow } from '../../src/db/time.js';
import { inTransaction } from '../../src/db/transaction.js';
import type { DataSyncEmulator } from '../../src/emulators/datasync/index.js';
import { signBody } from '../../src/webhooks/signature.js';
import { addSender } from '../../src/webhooks/senders.js';
import { tenantWithClient, type TenantFixture } from '../factories/index.js';
import { buildContext, type TestContext } from '../helpers/context.js';
import { testDbKind } from '../helpers/database.js';
import { connectedDataSync, gradedCourses } from '../helpers/exchange.js';
import {
  launch,
  launchClaims,
  login,
  startTestPlatform,
  type TestPlatform,
} from '../helpers/lti-platform.js';
import {
  bodyValue,
  encodeComponent,
  fromSchema,
  fullExample,
  HOSTILE_VALUES,
  hostileString,
  paths,
  replaceAt,
  type Hints,
  type JsonSchema,
} from './arbitraries.js';

/**
 * Robustness: for every route in /openapi.json (which lists every API, LTI
 * and webhook endpoint), requests generated from the route's own schemas and
 * then broken (wrong types, limits, NUL, lone surrogates, depth, size,
 * prototype keys, encodings, credentials). Every answer must be below 500,
 * in the surface's own error format, and a refused request must change
 * nothing. A fixed seed keeps CI repeatable; FUZZ_RUNS and FUZZ_SEED explore
 * further (`FUZZ_RUNS=2000 npx mocha test/robustness/fuzz.test.ts`).
 */
const RUNS = Number(process.env.FUZZ_RUNS) || 20;
const SEED = Number(process.env.FUZZ_SEED) || 20261130;

/** An RS256 JWT of any JSON payload (jsonwebtoken refuses some claim names an attacker may send). */
function signAnything(payload: unknown, key: KeyObject, kid: string): string {
  const part = (v: unknown) => Buffer.from(JSON.stringify(v) ?? 'null').toString('base64url');
  const head = `${part({ alg: 'RS256', typ: 'JWT', kid })}.${part(payload)}`;
  return `${head}.${createSign('RSA-SHA256').update(head).sign(key).toString('base64url')}`;
}

interface Operation {
  method: string;
  path: string;
  op: {
    security?: unknown[];
    parameters?: Array<{ name: string; in: string; required?: boolean; schema?: JsonSchema }>;
    requestBody?: { content: Record<string, { schema?: JsonSchema }> };
    responses?: Record<string, unknown>;
  };
}

interface FuzzRequest {
  method: string;
  url: string;
  headers: Record<string, string>;
  body?: Buffer;
}

interface Answer {
  status: number;
  type: string;
  text: string;
}

/** Names LTI and other pages read from queries and forms without documenting each. */
const COMMON_FIELDS = [
  'session',
  'iss',
  'login_hint',
  'target_link_uri',
  'client_id',
  'lti_message_hint',
  'lti_deployment_id',
  'lti_storage_target',
  'id_token',
  'state',
  'storage_confirmation',
  'storage_state',
  'storage_error',
  'page',
  'per_page',
  'column',
  'user',
  'notice',
];

const SURFACES: Array<{ name: string; prefixes: string[] }> = [
  { name: 'Grades Journey', prefixes: ['/learn/api/v2/cc/gradejourney'] },
  { name: 'Gradebook History', prefixes: ['/api/v1/courses'] },
  { name: 'Progress gradebooks', prefixes: ['/v2/e01/api/progress'] },
  { name: 'token endpoints', prefixes: ['/oauth2/token', '/learn/api/public/v1/oauth2/token'] },
  { name: 'LTI tool', prefixes: ['/lti'] },
  { name: 'webhooks', prefixes: ['/webhooks'] },
  { name: 'final grades', prefixes: ['/gradebridge/v1'] },
  { name: 'operations', prefixes: ['/healthz', '/readyz', '/metrics', '/openapi.json', '/docs'] },
];

/** The surface's own error format: what a client of that API parses. */
function expectOwnFormat(path: string, answer: Answer, what: string): void {
  const json = () => {
    try {
      return JSON.parse(answer.text) as Record<string, unknown>;
    } catch {
      throw new Error(`${what}: a JSON error body was expected, got ${answer.text.slice(0, 200)}`);
    }
  };
  if (path.startsWith('/learn/api/v2/cc/gradejourney')) {
    const body = json();
    expect(body.status, what).to.equal(answer.status);
    expect(body.message, what).to.be.a('string');
  } else if (path.startsWith('/api/v1/courses')) {
    expect(json().errors, what).to.be.an('array').that.is.not.empty;
  } else if (path.startsWith('/v2/e01/api/progress')) {
    expect(answer.type, what).to.include('application/problem+json');
    const body = json();
    expect(body.status, what).to.equal(answer.status);
    expect(body.title, what).to.be.a('string');
  } else if (path.includes('/oauth2/token')) {
    expect(json().error, what).to.be.a('string');
  } else if (path.startsWith('/lti')) {
    expect(answer.type, what).to.include('text/html');
  } else {
    const body = json() as { error?: { code?: unknown; message?: unknown } };
    expect(body.error?.code, what).to.be.a('string');
    expect(body.error?.message, what).to.be.a('string');
  }
}

describe(`robustness on ${testDbKind}: generated and hostile requests on every route (seed ${SEED}, ${RUNS} runs per route)`, function () {
  this.timeout(900_000);
  let ctx: TestContext;
  let t: TenantFixture;
  let platform: TestPlatform;
  let dataSync: DataSyncEmulator;
  let operations: Operation[];
  let doc: unknown;
  let hints: Hints;
  let tables: string[];
  const secrets: {
    hmacSender: number;
    hmacSecret: string;
    noticeConn: number;
    noticeSecret: string;
    canvasSender: number;
  } = {} as never;

  /** What the database holds, to tell whether a refused request wrote anything. */
  const fingerprint = async (): Promise<string> => {
    const counts = tables
      .map((name) => `select '${name}' as t, count(*) as n from "${name}"`)
      .join(' union all ');
    const result = await ctx.db.raw(counts);
    const rows = (Array.isArray(result) ? result : result.rows) as Array<{ t: string; n: number }>;
    let changes = '';
    if (ctx.database.kind === 'sqlite') {
      const [row] = (await ctx.db.raw('select total_changes() as n')) as Array<{ n: number }>;
      changes = `changes=${row!.n}`;
    }
    return `${rows.map((r) => `${r.t}=${Number(r.n)}`).join(',')};${changes}`;
  };

  const send = async (req: FuzzRequest): Promise<Answer> => {
    let r = ctx.http[req.method as 'get'](req.url).timeout(30_000).buffer(true);
    r = r.parse((res, done) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => done(null, Buffer.concat(chunks).toString('utf8')));
    });
    for (const [name, value] of Object.entries(req.headers)) r = r.set(name, value);
    // The bytes as generated: superagent would otherwise serialize a Buffer as JSON.
    const res = req.body !== undefined ? await r.serialize((b) => b).send(req.body) : await r;
    return {
      status: res.status,
      type: String(res.headers['content-type'] ?? ''),
      text: String(res.body ?? ''),
    };
  };

  const describeRequest = (req: FuzzRequest, answer?: Answer) =>
    `${req.method.toUpperCase()} ${req.url.slice(0, 300)} ${JSON.stringify(req.headers).slice(0, 300)} body=${req.body?.toString('utf8').slice(0, 300) ?? '-'}${answer ? ` -> ${answer.status} ${answer.text.slice(0, 300)}` : ''}`;

  /** Sends one request and checks the answer; `checkWrites` compares the database before and after a refusal. */
  /**
   * Sends one request and checks the answer. `outsideFailure` is for routes
   * that document a 502: they call an outside system (the LMS) and say so when
   * it fails; every other answer of 500 or more is a defect.
   */
  const probe = async (
    path: string,
    req: FuzzRequest,
    checkWrites = true,
    outsideFailure = false,
  ) => {
    const before = checkWrites ? await fingerprint() : '';
    const answer = await send(req);
    const what = describeRequest(req, answer);
    if (!(outsideFailure && answer.status === 502)) expect(answer.status, what).to.be.below(500);
    // 431: the request line or headers were too large for Node's HTTP parser itself.
    if (answer.status >= 400 && answer.status !== 431 && req.method !== 'head')
      expectOwnFormat(path, answer, what);
    if (checkWrites && answer.status >= 400)
      expect(await fingerprint(), `writes on refusal: ${what}`).to.equal(before);
  };

  const authHeaders = (path: string): fc.Arbitrary<Record<string, string>> => {
    if (path.includes('/oauth2/token')) {
      const basic = Buffer.from(`${t.clientId}:${t.clientSecret}`).toString('base64');
      return fc.oneof(
        { weight: 4, arbitrary: fc.constant({ Authorization: `Basic ${basic}` }) },
        fc.constant({}),
        hostileString.map((s) => ({
          Authorization: `Basic ${Buffer.from(`${s}:${s}`).toString('base64')}`,
        })),
        fc.constant({ Authorization: 'Basic !!!' }),
      );
    }
    return fc.oneof(
      { weight: 6, arbitrary: fc.constant({ Authorization: `Bearer ${t.token}` }) },
      fc.constant({}),
      fc.constant({ Authorization: 'Bearer not.a.token' }),
      fc.constant({ Authorization: `Basic ${t.token}` }),
      fc.constant({ Bearer: t.token }),
      fc.constant({ Cookie: `InSite.WebToken=${t.token}` }),
    );
  };

  /** A request for one operation: parameters, query, body and headers, valid or broken. */
  const requestFor = (o: Operation): fc.Arbitrary<FuzzRequest> => {
    const params = (o.op.parameters ?? []).filter((p) => p.in === 'path');
    const query = (o.op.parameters ?? []).filter((p) => p.in === 'query');
    const pathValue = (name: string, schema?: JsonSchema) =>
      fc.oneof(
        { weight: 4, arbitrary: fromSchema(schema, doc, hints, name).map(String) },
        { weight: 2, arbitrary: hostileString },
      );
    const pathArb = fc.tuple(...params.map((p) => pathValue(p.name, p.schema))).map((values) => {
      let path = o.path;
      params.forEach((p, i) => (path = path.replace(`{${p.name}}`, encodeComponent(values[i]!))));
      return path;
    });
    const queryEntry = (name: string, schema?: JsonSchema) =>
      fc.option(
        fc.oneof(
          {
            weight: 3,
            arbitrary: fromSchema(schema, doc, hints, name).map((v) =>
              typeof v === 'string' ? v : JSON.stringify(v),
            ),
          },
          { weight: 2, arbitrary: hostileString },
        ),
        { nil: undefined },
      );
    const queryArb = fc
      .tuple(
        fc.tuple(...query.map((p) => queryEntry(p.name, p.schema))),
        fc.array(fc.tuple(fc.constantFrom(...COMMON_FIELDS, 'extra', '__proto__'), hostileString), {
          maxLength: 2,
        }),
      )
      .map(([documented, extra]) => {
        const pairs: Array<[string, string]> = [];
        query.forEach(
          (p, i) => documented[i] !== undefined && pairs.push([p.name, documented[i]!]),
        );
        pairs.push(...extra);
        return pairs.map(([k, v]) => `${encodeComponent(k)}=${encodeComponent(v)}`).join('&');
      });
    const content = o.op.requestBody?.content ?? {};
    const types = Object.keys(content);
    const schema = types.map((ct) => content[ct]?.schema).find(Boolean);
    const hasBody = o.method === 'post' || o.method === 'put' || o.method === 'patch';
    const valueArb = schema
      ? bodyValue(fromSchema(schema, doc, hints))
      : bodyValue(
          fc.dictionary(fc.constantFrom(...COMMON_FIELDS), fc.string({ maxLength: 20 }), {
            maxKeys: 4,
          }),
        );
    const contentType = fc.oneof(
      {
        weight: 6,
        arbitrary: fc.constantFrom(
          ...(types.length ? types : ['application/x-www-form-urlencoded']),
        ),
      },
      fc.constantFrom(
        'application/json',
        'text/plain',
        'application/xml',
        'multipart/form-data; boundary=x',
        'application/json; charset=utf-16',
        'application/x-www-form-urlencoded',
        '',
      ),
    );
    const encoding = fc.constantFrom(
      'none',
      'none',
      'none',
      'none',
      'gzip',
      'broken-gzip',
      'br',
      'unknown',
    );
    const rawBody = fc.oneof(
      { weight: 8, arbitrary: valueArb.map((v) => ({ value: v })) },
      fc
        .constantFrom('{', '', 'null', '{"a":', '\uFEFF[]', '[]'.padStart(2_000_000, ' '))
        .map((text) => ({ text })),
    );
    const accept = fc.constantFrom(
      undefined,
      '*/*',
      'application/json',
      'text/json',
      'text/html',
      'application/xml',
      '\u00ff',
    );
    return fc
      .record({
        path: pathArb,
        query: queryArb,
        auth: authHeaders(o.path),
        body: hasBody ? rawBody : fc.constant(undefined),
        contentType,
        encoding,
        accept,
      })
      .map(({ path, query, auth, body, contentType, encoding, accept }) => {
        const headers: Record<string, string> = { ...auth };
        if (accept) headers.Accept = accept;
        let payload: Buffer | undefined;
        if (body) {
          let text: string;
          if ('text' in body) text = body.text!;
          else if (
            contentType.includes('form-urlencoded') &&
            body.value &&
            typeof body.value === 'object'
          )
            text = Object.entries(body.value)
              .map(
                ([k, v]) =>
                  `${encodeComponent(k)}=${encodeComponent(typeof v === 'string' ? v : (JSON.stringify(v) ?? ''))}`,
              )
              .join('&');
          else text = JSON.stringify(body.value) ?? '';
          payload = Buffer.from(text, 'utf8');
          if (contentType) headers['Content-Type'] = contentType;
          if (encoding === 'gzip') payload = zlib.gzipSync(payload);
          if (encoding === 'broken-gzip') payload = zlib.gzipSync(payload).subarray(0, 12);
          if (encoding !== 'none')
            headers['Content-Encoding'] = encoding === 'broken-gzip' ? 'gzip' : encoding;
        }
        return { method: o.method, url: query ? `${path}?${query}` : path, headers, body: payload };
      });
  };

  const asText = (v: unknown) => (typeof v === 'string' ? v : (JSON.stringify(v) ?? ''));
  const formText = (value: unknown) =>
    value !== null && typeof value === 'object' && !Array.isArray(value)
      ? Object.entries(value)
          .map(([k, v]) => `${encodeComponent(k)}=${encodeComponent(asText(v))}`)
          .join('&')
      : asText(value);

  /**
   * The systematic pass: a valid request, then the same request with one
   * path parameter, query parameter or body part (each element and property,
   * the whole body too) replaced by each hostile value in turn.
   */
  const singleFaults = (o: Operation): FuzzRequest[] => {
    const params = (o.op.parameters ?? []).filter((p) => p.in === 'path');
    const query = (o.op.parameters ?? []).filter((p) => p.in === 'query');
    const content = o.op.requestBody?.content ?? {};
    const contentType =
      Object.keys(content).find((c) => c.includes('json')) ?? Object.keys(content)[0];
    const schema = contentType ? content[contentType]?.schema : undefined;
    const auth: Record<string, string> = o.path.includes('/oauth2/token')
      ? {
          Authorization: `Basic ${Buffer.from(`${t.clientId}:${t.clientSecret}`).toString('base64')}`,
        }
      : { Authorization: `Bearer ${t.token}` };
    const baseParams = params.map((p) => asText(fullExample(p.schema, doc, hints, p.name)));
    const baseQuery = query.map((p) => asText(fullExample(p.schema, doc, hints, p.name)));
    const baseBody = schema ? fullExample(schema, doc, hints) : undefined;
    const sparseBody = schema ? fullExample(schema, doc, hints, undefined, 0, true) : undefined;
    const build = (pv: string[], qv: string[], body: unknown): FuzzRequest => {
      let path = o.path;
      params.forEach((p, i) => (path = path.replace(`{${p.name}}`, encodeComponent(pv[i]!))));
      const q = query
        .map((p, i) => `${encodeComponent(p.name)}=${encodeComponent(qv[i]!)}`)
        .join('&');
      const headers = { ...auth };
      let payload: Buffer | undefined;
      if (contentType && body !== undefined) {
        headers['Content-Type'] = contentType;
        payload = Buffer.from(
          contentType.includes('json') ? (JSON.stringify(body) ?? 'null') : formText(body),
        );
      }
      return { method: o.method, url: q ? `${path}?${q}` : path, headers, body: payload };
    };
    const out = [build(baseParams, baseQuery, baseBody)];
    for (const hostile of HOSTILE_VALUES) {
      params.forEach((_, i) =>
        out.push(
          build(
            baseParams.map((v, j) => (i === j ? asText(hostile) : v)),
            baseQuery,
            baseBody,
          ),
        ),
      );
      query.forEach((_, i) =>
        out.push(
          build(
            baseParams,
            baseQuery.map((v, j) => (i === j ? asText(hostile) : v)),
            baseBody,
          ),
        ),
      );
      if (contentType)
        for (const at of paths(baseBody)) {
          out.push(build(baseParams, baseQuery, replaceAt(baseBody, at, hostile)));
          out.push(build(baseParams, baseQuery, replaceAt(sparseBody, at, hostile)));
        }
    }
    const seen = new Set<string>();
    return out.filter((r) => {
      const key = `${r.url} ${r.body?.toString('latin1') ?? ''}`;
      return !seen.has(key) && !!seen.add(key);
    });
  };

  before(async () => {
    ctx = await buildContext();
    t = await tenantWithClient(ctx, {
      scopes: ['journey', 'history', 'progress', 'exchange', 'admin', 'final-grades', 'approval'],
    });
    const [course] = await gradedCourses(ctx, t, {
      prefix: 'FUZZ',
      courses: 1,
      columns: 2,
      learners: 3,
    });
    const row = await ctx
      .db('courses')
      .where({ tenant_id: t.tenantId, batch_uid: course!.courseId })
      .first('id', 'uuid');
    const column = await ctx
      .db('grade_columns')
      .where({ course_id: row.id })
      .orderBy('id')
      .first('id');
    const learner = await ctx
      .db('users')
      .where({ tenant_id: t.tenantId, batch_uid: course!.learners[0] })
      .first('id');
    const gradebook = await ctx.db('gradebooks').where({ course_id: row.id }).first('uuid');

    platform = await startTestPlatform(ctx, t.tenantId);
    const l = await login(ctx, platform);
    const launched = await launch(
      ctx,
      {
        id_token: signAnything(launchClaims(platform, l.nonce), platform.privateKey, platform.kid),
        state: l.state,
      },
      l.cookie,
    );
    const session = new URL(launched.headers.location!, 'http://x').searchParams.get('session')!;
    expect(session, launched.text).to.be.a('string');

    const now = isoNow(ctx.clock);
    const hmac = await inTransaction(ctx.db, (trx) =>
      addSender(
        trx,
        ctx.deps.secrets,
        ctx.config.publicUrl,
        { tenantId: t.tenantId, kind: 'hmac', name: 'fuzz' },
        now,
      ),
    );
    const canvas = await inTransaction(ctx.db, (trx) =>
      addSender(
        trx,
        ctx.deps.secrets,
        ctx.config.publicUrl,
        {
          tenantId: t.tenantId,
          kind: 'canvas',
          name: 'fuzz-canvas',
          jwksUrl: `${platform.issuer}/jwks`,
          account: 'root-account-uuid',
        },
        now,
      ),
    );
    const connected = await connectedDataSync(ctx, t.tenantId);
    dataSync = connected.ds;
    Object.assign(secrets, {
      hmacSender: hmac.senderId,
      hmacSecret: hmac.secret!,
      noticeConn: connected.conn.id,
      noticeSecret: ctx.deps.exchange.noticeSecret(connected.conn),
      canvasSender: canvas.senderId,
    });

    const today = new Date().toISOString().slice(0, 10);
    hints = {
      course_id: [row.id, `sis_course_id:${course!.courseId}`],
      assignment_id: [column.id],
      user_id: [learner.id, `sis_user_id:${course!.learners[0]}`],
      grader_id: [t.graderId, 0],
      date: [today],
      gradebook: [gradebook.uuid],
      sender: [hmac.senderId, canvas.senderId, connected.conn.id],
      name: ['Assignment 1', 'Final', 'swagger-ui.css'],
      courseId: [course!.courseId],
      userId: [course!.learners[0]],
      value: ['7', 'A', '-3', '1e400'],
      session: [session],
      column: [column.id],
      user: [learner.id],
      tenant: [t.tenantId],
      course: [course!.courseId],
      id: [1],
      $key: ['*'],
      organizationId: [t.uuid],
      gradebookId: [gradebook.uuid],
      classId: [row.uuid],
      openid_configuration: [
        'http://127.0.0.1:9/.well-known/openid-configuration',
        `${platform.issuer}/jwks`,
      ],
    };

    doc = (await ctx.http.get('/openapi.json').expect(200)).body;
    operations = [];
    for (const [path, ops] of Object.entries(
      (doc as { paths: Record<string, Record<string, Operation['op']>> }).paths,
    ))
      for (const [method, op] of Object.entries(ops)) operations.push({ method, path, op });

    tables = (
      ctx.database.kind === 'sqlite'
        ? await ctx.db('sqlite_master').where({ type: 'table' }).pluck('name')
        : await ctx
            .db('information_schema.tables')
            .where({ table_schema: 'public' })
            .pluck('table_name')
    )
      .filter((n: string) => !n.startsWith('knex_') && !n.startsWith('sqlite_'))
      .sort();
  });

  after(async () => {
    await platform?.close();
    await dataSync?.close();
    await ctx?.deps.exchange.close();
    await ctx?.db.destroy();
    await ctx?.database.drop();
  });

  for (const surface of SURFACES) {
    it(`answers every ${surface.name} route below 500, in its own format, writing nothing it refused`, async () => {
      const mine = operations.filter((o) => surface.prefixes.some((p) => o.path.startsWith(p)));
      expect(mine, 'routes of this surface in /openapi.json').to.not.be.empty;
      for (const o of mine) {
        const outside = !!o.op.responses?.['502'];
        for (const req of singleFaults(o)) await probe(o.path, req, true, outside);
        await fc.assert(
          fc.asyncProperty(requestFor(o), (req) => probe(o.path, req, true, outside)),
          { seed: SEED, numRuns: RUNS, endOnFailure: true },
        );
      }
    });
  }

  const webhookBody = (valid: fc.Arbitrary<unknown>) =>
    bodyValue(valid).map((v) => JSON.stringify(v) ?? 'null');

  it('answers signed webhooks with broken bodies below 500, in its own format, writing nothing it refused', async () => {
    const stamp = () => Math.floor(Date.now() / 1000);
    const notice = fc.record({
      id: fc.string({ minLength: 1, maxLength: 20 }),
      type: fc.constant('grades.exchange.created'),
      data: fc.record({ exchange_id: fc.string({ minLength: 1, maxLength: 20 }) }),
    });
    const grade = fc.record({
      id: fc.string({ minLength: 1, maxLength: 20 }),
      type: fc.constant('grade.changed'),
      data: fc.record({
        course: fc.constant('FUZZ-1'),
        column: fc.constantFrom('Assignment 1', 'Final'),
        user: fc.constant('FUZZ-s1'),
        score: fc.oneof(fc.double({ min: 0, max: 10, noNaN: true }), fc.constant(null)),
      }),
    });
    await fc.assert(
      fc.asyncProperty(webhookBody(notice), (text) =>
        probe('/webhooks', {
          method: 'post',
          url: `/webhooks/datasync/${secrets.noticeConn}`,
          headers: {
            'Content-Type': 'application/json',
            'X-DataSync-Signature': signBody(secrets.noticeSecret, text, stamp()),
          },
          body: Buffer.from(text, 'utf8'),
        }),
      ),
      { seed: SEED, numRuns: RUNS * 3, endOnFailure: true },
    );
    await fc.assert(
      fc.asyncProperty(webhookBody(grade), (text) =>
        probe('/webhooks', {
          method: 'post',
          url: `/webhooks/grades/${secrets.hmacSender}`,
          headers: {
            'Content-Type': 'application/json',
            'X-Gradebridge-Signature': signBody(secrets.hmacSecret, text, stamp()),
          },
          body: Buffer.from(text, 'utf8'),
        }),
      ),
      { seed: SEED, numRuns: RUNS * 3, endOnFailure: true },
    );
    const canvasEvent = fc.record({
      metadata: fc.record({
        event_name: fc.constantFrom('grade_change', 'submission_updated'),
        root_account_uuid: fc.constant('root-account-uuid'),
        context_id: fc.string({ maxLength: 10 }),
      }),
      body: fc.record({
        assignment_id: fc.string({ maxLength: 10 }),
        user_id: fc.string({ maxLength: 10 }),
        score: fc.double({ noNaN: true }),
      }),
    });
    await fc.assert(
      fc.asyncProperty(bodyValue(canvasEvent), (payload) => {
        const claims =
          payload !== null && typeof payload === 'object' && !Array.isArray(payload)
            ? payload
            : { value: payload };
        const token = signAnything(claims, platform.privateKey, platform.kid);
        return probe('/webhooks', {
          method: 'post',
          url: `/webhooks/canvas/${secrets.canvasSender}`,
          headers: { 'Content-Type': 'application/jwt' },
          body: Buffer.from(token, 'utf8'),
        });
      }),
      { seed: SEED, numRuns: RUNS * 3, endOnFailure: true },
    );
  });

  it('answers launches whose signed claims are broken below 500, with the LTI error page', async () => {
    const claims = fc.constant(null).map(() => launchClaims(platform, 'placeholder'));
    await fc.assert(
      fc.asyncProperty(bodyValue(claims), async (changed) => {
        const l = await login(ctx, platform);
        const base =
          changed !== null && typeof changed === 'object' && !Array.isArray(changed)
            ? changed
            : { value: changed };
        const c = { ...launchClaims(platform, l.nonce), ...base, nonce: l.nonce } as Record<
          string,
          unknown
        >;
        // A launch uses up its login's state whether it is accepted or not: writes are expected.
        return probe(
          '/lti/launch',
          {
            method: 'post',
            url: '/lti/launch',
            headers: { 'Content-Type': 'application/x-www-form-urlencoded', Cookie: l.cookie },
            body: Buffer.from(
              new URLSearchParams({
                id_token: signAnything(c, platform.privateKey, platform.kid),
                state: l.state,
              }).toString(),
            ),
          },
          false,
        );
      }),
      { seed: SEED, numRuns: RUNS * 3, endOnFailure: true },
    );
  });
});
