import { createHash } from 'node:crypto';
import type { Executor } from '../db/knex.js';
import { toBool, toIso } from '../db/time.js';
import { approvalModeOf, approvedFinalGrades } from '../grades/final-grades.js';
import { chunk as slices } from '../grades/grade-batch.js';
import { QueryProblem, type CoursePart } from './scope.js';
import type { AssignmentOut, Named, ScoreOut, SummaryOut, Sys } from './types.js';

/** One thing an exchange sends, with what identifies it across exchanges. */
export interface PlannedItem {
  /** Unique per connection: `a:<column>` an assignment, `s:<column>:<user>` a score, `f:<column>:<user>:<type>` a summary. */
  key: string;
  kind: 'assignment' | 'score' | 'summary';
  courseId: number;
  columnId: number;
  userId: number | null;
  hash: string;
  versionId: number | null;
  score: number | null;
  grade: string | null;
}

interface AssignmentPiece {
  /** The assignment's JSON with an empty `scores` array last. */
  header: string;
  headerItem: PlannedItem | null;
  scores: Array<{ json: string; item: PlannedItem }>;
}

export interface Payload {
  assignments: AssignmentPiece[];
  summaries: Array<{ json: string; item: PlannedItem }>;
}

export interface PlannedChunk {
  body: string;
  bytes: number;
  final: boolean;
  items: PlannedItem[];
}

const hashOf = (value: unknown) =>
  createHash('sha256').update(JSON.stringify(value)).digest('hex').slice(0, 40);

const round2 = (n: number) => Math.round(n * 100) / 100;

function sys(
  sourceId: string | null,
  appId: number,
  dataSyncId?: string | null,
  sourceKey = 'sis_id',
): Sys {
  const source: Record<string, string> = sourceId ? { [sourceKey]: sourceId } : {};
  return {
    ...(dataSyncId ? { id: dataSyncId } : {}),
    source_id: source,
    app_id: { gradebridge_id: String(appId) },
  };
}

function person(u: { id: number; name: string | null; batch_uid: string | null }): Named {
  return { name: u.name ?? u.batch_uid ?? `User ${u.id}`, $sys: sys(u.batch_uid, u.id) };
}

/**
 * What an exchange sends for its courses, read from the store: for each
 * course, its extractable columns as assignments with the learners' scores,
 * and the final grades (the course's external grade column, else a
 * calculated column marked final) as summaries. Only what differs from what
 * was last sent successfully on this connection is included; an unchanged
 * assignment counts as synced.
 */
export async function buildPayload(
  db: Executor,
  connectionId: number,
  parts: CoursePart[],
): Promise<Payload> {
  const payload: Payload = { assignments: [], summaries: [] };
  const byCourse = new Map<number, CoursePart[]>();
  for (const p of parts) {
    const list = byCourse.get(p.courseId);
    if (list) list.push(p);
    else byCourse.set(p.courseId, [p]);
  }
  for (const [courseId, courseParts] of byCourse) {
    await buildCourse(db, connectionId, courseId, courseParts, payload);
  }
  return payload;
}

async function buildCourse(
  db: Executor,
  connectionId: number,
  courseId: number,
  parts: CoursePart[],
  out: Payload,
): Promise<void> {
  const course = await db('courses')
    .where({ id: courseId })
    .first('id', 'tenant_id', 'title', 'batch_uid');
  const dataSyncId = parts.find((p) => p.dataSyncId)?.dataSyncId ?? null;
  const section: Named = { name: course.title, $sys: sys(course.batch_uid, course.id, dataSyncId) };
  const columns = await db('grade_columns')
    .where({ course_id: courseId })
    .whereNull('deleted_at')
    .orderBy([{ column: 'sequence_num' }, { column: 'id' }])
    .select('id', 'name', 'points', 'due_at', 'is_external', 'is_final', 'extract', 'calculation');
  const learners = await db('enrollments as e')
    .join('users as u', 'u.id', 'e.user_id')
    .where({ 'e.course_id': courseId, 'e.role': 'Learner' })
    .orderBy('u.id')
    .select('u.id', 'u.name', 'u.batch_uid');
  const learnerById = new Map(learners.map((u) => [u.id as number, u]));
  const subs = await db('submissions')
    .where({ course_id: courseId })
    .select(
      'id',
      'column_id',
      'user_id',
      'score',
      'grade',
      'graded_at',
      'grader_id',
      'late',
      'missing',
      'excused',
      'submitted_at',
    );
  const latest = new Map<number, number>();
  for (const r of await db('grade_versions')
    .where({ course_id: courseId })
    .groupBy('submission_id')
    .select('submission_id', db.raw('max(id) as version_id'))) {
    latest.set(r.submission_id as number, Number(r.version_id));
  }
  const graderIds = [...new Set(subs.map((s) => s.grader_id).filter((id) => id !== null))];
  const graders = new Map<number, Named>();
  for (const part of slices(graderIds as number[], 500)) {
    for (const g of await db('users').whereIn('id', part).select('id', 'name', 'batch_uid'))
      graders.set(g.id, person(g));
  }
  const sent = new Map<string, string | null>();
  for (const r of await db('exchange_items')
    .where({ connection_id: connectionId, course_id: courseId })
    .select('item_key', 'sent_hash')) {
    sent.set(r.item_key, r.sent_hash);
  }
  type Sub = (typeof subs)[number];
  // Each column's submissions of enrolled learners, by learner.
  const byColumn = new Map<number, Map<number, Sub>>();
  for (const s of subs) {
    if (!learnerById.has(s.user_id)) continue;
    let column = byColumn.get(s.column_id);
    if (!column) byColumn.set(s.column_id, (column = new Map()));
    column.set(s.user_id, s);
  }
  const graded = (s: Sub | undefined): s is Sub =>
    !!s && (s.score !== null || s.grade !== null || toBool(s.excused));
  const grader = (s: Sub) =>
    s.grader_id !== null && graders.has(s.grader_id) ? { $grader: graders.get(s.grader_id)! } : {};
  /** The item for `value`, or null when exactly this was sent last. */
  const changed = (
    key: string,
    kind: PlannedItem['kind'],
    columnId: number,
    userId: number | null,
    value: unknown,
    hash: string,
    sub: Sub | undefined,
    outValues: { score: number | null; grade: string | null },
    versionId?: number | null,
  ): { json: string; item: PlannedItem } | null =>
    sent.get(key) === hash
      ? null
      : {
          json: JSON.stringify(value),
          item: {
            key,
            kind,
            courseId,
            columnId,
            userId,
            hash,
            versionId:
              versionId !== undefined ? versionId : sub ? (latest.get(sub.id) ?? null) : null,
            ...outValues,
          },
        };

  const wantAssignments = parts.filter((p) => p.assignments);
  if (wantAssignments.length) {
    const gradedAfter = earliest(wantAssignments.map((p) => p.gradedAfter));
    const named = wantAssignments.some((p) => p.assignmentIds === null)
      ? null
      : new Set(wantAssignments.flatMap((p) => p.assignmentIds ?? []));
    const assignmentColumns = columns.filter(
      (c) =>
        toBool(c.extract) &&
        !toBool(c.is_external) &&
        !toBool(c.is_final) &&
        (!named || named.has(c.id)),
    );
    for (const c of assignmentColumns) {
      const points = Number(c.points);
      const header: Omit<AssignmentOut, 'scores'> = {
        $sys: sys(String(c.id), c.id, null, 'gradebridge_id'),
        $section: section,
        name: c.name,
        points_possible: points,
        due_at: toIso(c.due_at),
      };
      const headerItem = changed(
        `a:${c.id}`,
        'assignment',
        c.id,
        null,
        header,
        hashOf(header),
        undefined,
        {
          score: null,
          grade: null,
        },
      );
      const piece: AssignmentPiece = {
        header: JSON.stringify({ ...header, scores: [] }),
        headerItem: headerItem?.item ?? null,
        scores: [],
      };
      const subsOfColumn = byColumn.get(c.id);
      for (const learner of learners) {
        const sub = subsOfColumn?.get(learner.id);
        const key = `s:${c.id}:${learner.id}`;
        // A grade removed since it was sent goes out as a score of null, so the SIS drops it too.
        if (!graded(sub) && !sent.get(key)) continue;
        const at = sub ? toIso(sub.graded_at) : null;
        if (gradedAfter && (graded(sub) ? !at || at <= gradedAfter : at && at <= gradedAfter))
          continue;
        const score: ScoreOut = graded(sub)
          ? {
              $person: person(learner),
              ...grader(sub),
              score: sub.score === null ? null : Number(sub.score),
              grade: sub.grade,
              late: toBool(sub.late),
              missing: toBool(sub.missing),
              excused: toBool(sub.excused),
              submitted_at: toIso(sub.submitted_at),
            }
          : {
              $person: person(learner),
              score: null,
              grade: null,
              late: false,
              missing: false,
              excused: false,
              submitted_at: null,
            };
        const entry = changed(key, 'score', c.id, learner.id, score, hashOf([score, points]), sub, {
          score: score.score,
          grade: score.grade,
        });
        if (entry) piece.scores.push(entry);
      }
      if (piece.scores.length || piece.headerItem) out.assignments.push(piece);
    }
  }

  const wantSummaries = parts.filter((p) => p.summaries);
  if (wantSummaries.length) {
    const finalColumn =
      columns.find((c) => toBool(c.is_external)) ?? columns.find((c) => toBool(c.is_final));
    if (!finalColumn) {
      throw new QueryProblem(
        'producer_error',
        `course "${course.title}" (${course.batch_uid ?? course.id}) has no final grade column: set an external grade column through Journey or mark a weighted or total column final`,
      );
    }
    const points = Number(finalColumn.points);
    const scoreTypes = [...new Set(wantSummaries.map((p) => p.scoreType))];
    // Where the tenant requires approval, only approved values leave: the
    // latest approved snapshot of this final column, whatever the grades are now.
    const requireApproval = (await approvalModeOf(db, course.tenant_id)) === 'required';
    const approval = requireApproval ? await approvedFinalGrades(db, courseId) : null;
    for (const learner of learners) {
      const sub = byColumn.get(finalColumn.id)?.get(learner.id);
      let value: {
        score: number | null;
        grade: string | null;
        at: string | null;
        versionId?: number | null;
      };
      if (requireApproval) {
        const approved =
          approval && approval.columnId === finalColumn.id
            ? approval.values.get(learner.id)
            : undefined;
        if (!approved) continue;
        value = {
          score: approved.score,
          grade: approved.grade,
          at: approved.gradedAt,
          versionId: approved.versionId,
        };
      } else {
        if (!graded(sub)) continue;
        value = {
          score: sub.score === null ? null : Number(sub.score),
          grade: sub.grade,
          at: toIso(sub.graded_at),
        };
      }
      const raw = value.score;
      const sameAsNow =
        value.versionId === undefined || (sub && latest.get(sub.id) === value.versionId);
      for (const scoreType of scoreTypes) {
        const summary: SummaryOut = {
          $section: section,
          $person: person(learner),
          ...(sub && sameAsNow ? grader(sub) : {}),
          summary_type: 'final',
          score_type: scoreType,
          score:
            raw === null || scoreType === 'raw'
              ? raw
              : points > 0
                ? round2((raw / points) * 100)
                : null,
          grade: value.grade,
          last_activity: value.at,
        };
        const entry = changed(
          `f:${finalColumn.id}:${learner.id}:${scoreType}`,
          'summary',
          finalColumn.id,
          learner.id,
          summary,
          hashOf(summary),
          sub,
          { score: summary.score, grade: summary.grade },
          value.versionId,
        );
        if (entry) out.summaries.push(entry);
      }
    }
  }
}

function earliest(dates: Array<string | null>): string | null {
  if (dates.some((d) => d === null)) return null;
  return (dates as string[]).sort()[0] ?? null;
}

const bytes = (s: string) => Buffer.byteLength(s, 'utf8');
const ENVELOPE = bytes('{"assignments":[],"summaries":[],"final":false}');

/**
 * Splits a payload into upload bodies of at most `max` bytes each; an
 * assignment whose scores do not fit in one is continued in the next (its
 * header repeated). The last body carries `final: true`; an empty payload is
 * one empty final body.
 */
export function chunkPayload(payload: Payload, max: number): PlannedChunk[] {
  const chunks: PlannedChunk[] = [];
  let assignments: string[] = [];
  let summaries: string[] = [];
  let items: PlannedItem[] = [];
  let size = ENVELOPE;
  const flush = () => {
    chunks.push({
      body: `{"assignments":[${assignments.join(',')}],"summaries":[${summaries.join(',')}],"final":false}`,
      bytes: size,
      final: false,
      items,
    });
    assignments = [];
    summaries = [];
    items = [];
    size = ENVELOPE;
  };
  const tooSmall = () =>
    new QueryProblem(
      'producer_error',
      `max_data_content_length ${max} is too small for a single score or summary`,
    );

  for (const a of payload.assignments) {
    let next = 0;
    let first = true;
    while (first || next < a.scores.length) {
      const headerCost = (assignments.length ? 1 : 0) + bytes(a.header);
      const firstScore = a.scores[next] ? bytes(a.scores[next]!.json) : 0;
      if (size + headerCost + firstScore > max) {
        if (assignments.length || summaries.length) flush();
        if (ENVELOPE + bytes(a.header) + firstScore > max) throw tooSmall();
        continue;
      }
      size += headerCost;
      const taken: string[] = [];
      if (first && a.headerItem) items.push(a.headerItem);
      while (next < a.scores.length) {
        const s = a.scores[next]!;
        const cost = (taken.length ? 1 : 0) + bytes(s.json);
        if (size + cost > max) break;
        taken.push(s.json);
        items.push(s.item);
        size += cost;
        next++;
      }
      assignments.push(`${a.header.slice(0, -2)}${taken.join(',')}]}`);
      first = false;
      if (next < a.scores.length) flush();
    }
  }
  for (const s of payload.summaries) {
    const cost = (summaries.length ? 1 : 0) + bytes(s.json);
    if (size + cost > max) {
      if (assignments.length || summaries.length) flush();
      if (ENVELOPE + bytes(s.json) > max) throw tooSmall();
    }
    size += (summaries.length ? 1 : 0) + bytes(s.json);
    summaries.push(s.json);
    items.push(s.item);
  }
  if (assignments.length || summaries.length || chunks.length === 0) flush();
  const last = chunks[chunks.length - 1]!;
  last.body = `${last.body.slice(0, -'false}'.length)}true}`;
  last.bytes = bytes(last.body);
  last.final = true;
  return chunks;
}
