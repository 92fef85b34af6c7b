import type { Trx } from '../db/knex.js';
import { dbClient } from '../db/knex.js';
import { toBool, toIso } from '../db/time.js';
import { followGradeChanges } from './followers.js';
import {
  inList,
  insertRows,
  jsonSafe,
  listParam,
  quote,
  readRows,
  recordsetInsert,
  type Row,
  sqliteStatement,
  sqliteValue,
  writeRows,
} from '../db/bulk.js';

/** Where a grade version came from. */
export type GradeSource = 'journey' | 'ags' | 'webhook' | 'teacher' | 'calculation' | 'live_event';

export interface CurrentGrade {
  submissionId: number | null;
  score: number | null;
  grade: string | null;
  gradedAt: string | null;
  /**
   * When the change that made this grade happened at its source: an event's
   * own time for a write recorded as of it, else the time it was recorded.
   * Null for a grade stored before this was kept (its gradedAt stands in).
   */
  changedAt: string | null;
  graderId: number | null;
  workflowState: string;
  excused: boolean;
  late: boolean;
  missing: boolean;
}

export interface GradeWrite {
  courseId: number;
  columnId: number;
  userId: number;
  score: number | null;
  grade: string | null;
  pointsPossible: number | null;
  gradedAt: string;
  /** users.id of the grader; null when no person graded ("Graded on submission"). */
  graderId: number | null;
  source: GradeSource;
  apiClientId?: number | null;
  idempotencyKey: string;
  workflowState?: string;
  excused?: boolean;
  late?: boolean;
  missing?: boolean;
}

export interface GradebookChange {
  type: string;
  user: string;
}

/**
 * What recording a grade did: it became the current grade, it is `late` (a
 * version only: the current grade was changed after the time it is as of),
 * or it was `unchanged` (equal to the current grade: nothing recorded).
 */
export type RecordOutcome = 'current' | 'late' | 'unchanged';

interface Pending {
  write: GradeWrite;
  /** The version's values; for a late write, not the submission's. */
  state: CurrentGrade;
  /** A late write: appended to the history, the submission keeps its newer grade. */
  superseded: boolean;
}

const key = (columnId: number, userId: number) => `${columnId}:${userId}`;

/** A submission's current grade as read from the store (see GradeBatch.load and prime). */
export interface SubmissionRow {
  id: number;
  column_id: number;
  user_id: number;
  score: number | null;
  grade: string | null;
  graded_at: string | null;
  changed_at: string | null;
  grader_id: number | null;
  workflow_state: string;
  excused: unknown;
  late: unknown;
  missing: unknown;
}

/** The columns of a SubmissionRow, as a select list over `submissions`. */
export const SUBMISSION_READ =
  'id, column_id, user_id, score, grade, graded_at, changed_at, grader_id, workflow_state, excused, late, missing';

/** The columns of a submission that a new grade changes. */
/** The columns a submission is written with (see submissionRow). */
const SUBMISSION_COLUMNS = [
  'tenant_id',
  'course_id',
  'column_id',
  'user_id',
  'score',
  'grade',
  'graded_at',
  'changed_at',
  'grader_id',
  'workflow_state',
  'excused',
  'late',
  'missing',
  'created_at',
  'updated_at',
];

const STATE_COLUMNS = [
  'score',
  'grade',
  'graded_at',
  'grader_id',
  'workflow_state',
  'excused',
  'late',
  'missing',
  'changed_at',
  'updated_at',
];

export function chunk<T>(items: T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}

function sameScore(a: number | null, b: number | null): boolean {
  if (a === null || b === null) return a === b;
  return Math.abs(a - b) < 1e-9;
}

/**
 * One unit of grade writing. Callers load the submissions they will touch,
 * record grades (a grade equal to the current one records nothing; a grade
 * as of a time older than the current one's change is a late version only,
 * see recordAsOf), and flush once: submissions are upserted and versions
 * appended in a few bulk statements, inside the caller's transaction.
 */
export class GradeBatch {
  private readonly current = new Map<string, CurrentGrade>();
  private readonly pending: Pending[] = [];
  private readonly touchedCourses = new Map<number, GradebookChange>();

  constructor(
    readonly trx: Trx,
    readonly tenantId: number,
    readonly now: string,
  ) {}

  /** The pairs not loaded yet, by column. */
  private unloaded(pairs: Array<{ columnId: number; userId: number }>): Map<number, Set<number>> {
    const byColumn = new Map<number, Set<number>>();
    for (const { columnId, userId } of pairs) {
      if (this.current.has(key(columnId, userId))) continue;
      let users = byColumn.get(columnId);
      if (!users) byColumn.set(columnId, (users = new Set()));
      users.add(userId);
    }
    return byColumn;
  }

  /** Loads current grades for the given pairs (those already loaded are skipped). */
  async load(pairs: Array<{ columnId: number; userId: number }>): Promise<void> {
    const byColumn = this.unloaded(pairs);
    if (byColumn.size === 0) return;
    const columnIds = [...byColumn.keys()];
    const userIds = [...new Set([...byColumn.values()].flatMap((s) => [...s]))];
    const rows = await readRows<SubmissionRow>(
      this.trx,
      `select ${SUBMISSION_READ} from submissions
        where tenant_id = ? and column_id ${inList(this.trx, 'int')} and user_id ${inList(this.trx, 'int')}`,
      [this.tenantId, listParam(this.trx, columnIds), listParam(this.trx, userIds)],
    );
    this.absorb(byColumn, rows);
  }

  /**
   * Takes the current grades of the given pairs from submission rows the
   * caller read itself (in a statement that read other things too, after
   * it locked the courses): `rows` must hold every stored submission of those
   * pairs; a pair without one has no grade yet.
   */
  prime(pairs: Array<{ columnId: number; userId: number }>, rows: SubmissionRow[]): void {
    const byColumn = this.unloaded(pairs);
    if (byColumn.size > 0) this.absorb(byColumn, rows);
  }

  private absorb(byColumn: Map<number, Set<number>>, rows: SubmissionRow[]): void {
    for (const row of rows) {
      const k = key(row.column_id, row.user_id);
      if (!byColumn.get(row.column_id)?.has(row.user_id)) continue;
      this.current.set(k, {
        submissionId: row.id,
        score: row.score,
        grade: row.grade,
        gradedAt: row.graded_at,
        changedAt: toIso(row.changed_at),
        graderId: row.grader_id,
        workflowState: row.workflow_state,
        excused: toBool(row.excused),
        late: toBool(row.late),
        missing: toBool(row.missing),
      });
    }
    for (const [columnId, users] of byColumn) {
      for (const userId of users) {
        const k = key(columnId, userId);
        if (!this.current.has(k)) this.current.set(k, emptyGrade());
      }
    }
  }

  /** The grade as it stands, including what this batch has recorded. Pairs must be loaded first. */
  get(columnId: number, userId: number): CurrentGrade | undefined {
    return this.current.get(key(columnId, userId));
  }

  /** Records a grade; returns false (and records nothing) when it equals the current one. */
  record(write: GradeWrite, change: GradebookChange): boolean {
    return this.apply(write, null, change) !== 'unchanged';
  }

  /**
   * Records a grade as of the time its source made the change (`asOf`, an
   * ISO instant: an event's own time). When the submission's current grade
   * was changed later than that, the write is late: it is appended to the
   * history as a version (with its own values and graded_at) and handed to
   * the followers marked `superseded`, but the submission keeps its newer
   * grade, and nothing is compared with it. Otherwise it is recorded as
   * `record` does. Writes without a time of their own (Journey, AGS pulls)
   * use `record`: they take effect in the order they arrive.
   */
  recordAsOf(write: GradeWrite, asOf: string, change: GradebookChange): RecordOutcome {
    const ms = Date.parse(asOf);
    if (!Number.isFinite(ms)) throw new Error(`recordAsOf: "${asOf}" is not a time`);
    return this.apply(write, new Date(ms).toISOString(), change);
  }

  private apply(write: GradeWrite, asOf: string | null, change: GradebookChange): RecordOutcome {
    const k = key(write.columnId, write.userId);
    const before = this.current.get(k);
    if (!before) throw new Error(`grade ${k} was not loaded before it was recorded`);
    const excused = write.excused ?? before.excused;
    const late = write.late ?? before.late;
    const missing = write.missing ?? before.missing;
    const workflowState =
      write.workflowState ??
      (write.score === null && write.grade === null ? before.workflowState : 'graded');
    const state: CurrentGrade = {
      submissionId: before.submissionId,
      score: write.score,
      grade: write.grade,
      gradedAt: write.gradedAt,
      changedAt: asOf ?? this.now,
      graderId: write.graderId,
      workflowState,
      excused,
      late,
      missing,
    };
    const standing = before.changedAt ?? before.gradedAt;
    if (asOf !== null && standing !== null && Date.parse(asOf) < Date.parse(standing)) {
      this.pending.push({ write, state, superseded: true });
      this.touch(write.courseId, change);
      return 'late';
    }
    if (
      sameScore(before.score, write.score) &&
      before.grade === write.grade &&
      before.excused === excused &&
      before.late === late &&
      before.missing === missing &&
      before.workflowState === workflowState
    ) {
      return 'unchanged';
    }
    this.current.set(k, state);
    this.pending.push({ write, state, superseded: false });
    this.touch(write.courseId, change);
    return 'current';
  }

  get size(): number {
    return this.pending.length;
  }

  /** Marks a course's gradebook as changed; the first change recorded for a course names it. */
  touch(courseId: number, change: GradebookChange): void {
    if (!this.touchedCourses.has(courseId)) this.touchedCourses.set(courseId, change);
  }

  /** A submission's row as it is written: its final state in this batch. */
  private submissionRow({ write, state }: Pending) {
    return {
      tenant_id: this.tenantId,
      course_id: write.courseId,
      column_id: write.columnId,
      user_id: write.userId,
      score: state.score,
      grade: state.grade,
      graded_at: state.gradedAt,
      changed_at: state.changedAt,
      grader_id: state.graderId,
      workflow_state: state.workflowState,
      excused: state.excused,
      late: state.late,
      missing: state.missing,
      created_at: this.now,
      updated_at: this.now,
    };
  }

  /**
   * Saves the final state of each touched submission and returns their ids.
   * SQLite: a plain insert for new submissions and an update by id for known
   * ones, each a cached statement. PostgreSQL: one multi-row upsert.
   */
  private async writeSubmissions(finals: Pending[]): Promise<Map<string, number>> {
    const ids = new Map<string, number>();
    const row = (p: Pending) => this.submissionRow(p);
    if (dbClient(this.trx) === 'postgres') {
      const returned = (await insertRows(this.trx, 'submissions', finals.map(row), {
        conflict: { columns: ['column_id', 'user_id'], merge: STATE_COLUMNS },
        returning: ['id', 'column_id', 'user_id'],
        asJson: true,
      })) as Array<{ id: number; column_id: number; user_id: number }>;
      for (const r of returned) ids.set(key(r.column_id, r.user_id), r.id);
      return ids;
    }
    const columns = Object.keys(row(finals[0]!));
    const insert = await sqliteStatement(
      this.trx,
      `insert into submissions (${columns.map(quote).join(', ')}) values (${columns.map(() => '?').join(', ')})`,
    );
    const update = await sqliteStatement(
      this.trx,
      `update submissions set ${STATE_COLUMNS.map((c) => `${quote(c)} = ?`).join(', ')} where id = ?`,
    );
    for (const p of finals) {
      const r = row(p);
      const k = key(p.write.columnId, p.write.userId);
      if (p.state.submissionId === null) {
        ids.set(
          k,
          Number(
            insert.run(columns.map((c) => sqliteValue(r[c as keyof typeof r]))).lastInsertRowid,
          ),
        );
      } else {
        update.run([
          ...STATE_COLUMNS.map((c) => sqliteValue(r[c as keyof typeof r])),
          p.state.submissionId,
        ]);
        ids.set(k, p.state.submissionId);
      }
    }
    return ids;
  }

  /**
   * PostgreSQL: the submissions' final states and the versions in one
   * statement (the upsert in a CTE whose ids the versions take), each table's
   * rows as one JSON parameter; versions get their ids in the order recorded.
   * Returns the submission ids by column and user, or null when a value
   * cannot travel as JSON (then the caller writes them one table at a time).
   */
  private async writeTogether(
    finals: Pending[],
    pending: Pending[],
    versionRow: (p: Pending, submissionId: number | null) => Row,
  ): Promise<Map<string, number> | null> {
    const submissions = finals.map((p) => this.submissionRow(p));
    const versions = pending.map((p) => {
      const cur = this.current.get(key(p.write.columnId, p.write.userId));
      return versionRow(p, cur?.submissionId ?? p.state.submissionId ?? null);
    });
    const versionColumns = Object.keys(versions[0]!);
    if (submissions.length > 0 && !jsonSafe(submissions, Object.keys(submissions[0]!))) return null;
    if (!jsonSafe(versions, versionColumns)) return null;
    const upsert = recordsetInsert('submissions', SUBMISSION_COLUMNS, {
      conflict: { columns: ['column_id', 'user_id'], merge: STATE_COLUMNS },
      returning: ['id', 'column_id', 'user_id'],
    });
    const select = versionColumns
      .map((c) => (c === 'submission_id' ? 'coalesce(s.id, v.submission_id)' : `v.${quote(c)}`))
      .join(', ');
    const result = (await this.trx.raw(
      `with s as (${upsert}),
       inserted as (
         insert into grade_versions (${versionColumns.map(quote).join(', ')})
         select ${select}
           from json_populate_recordset(null::grade_versions, ?::json) with ordinality as v
           left join s on s.column_id = v.column_id and s.user_id = v.user_id
          order by v.ordinality
       )
       select id, column_id, user_id from s`,
      [JSON.stringify(submissions), JSON.stringify(versions)],
    )) as { rows: Array<{ id: number; column_id: number; user_id: number }> };
    const ids = new Map<string, number>();
    for (const r of result.rows) ids.set(key(r.column_id, r.user_id), r.id);
    return ids;
  }

  /** Writes everything recorded. Returns the number of versions appended. */
  async flush(): Promise<number> {
    const trx = this.trx;
    const pending = this.pending.splice(0);
    if (pending.length > 0) {
      // Final state per submission, in order of first appearance; a late
      // write leaves its submission as it is.
      const finals = new Map<string, Pending>();
      for (const p of pending)
        if (!p.superseded) finals.set(key(p.write.columnId, p.write.userId), p);
      const versionRow = ({ write, state }: Pending, submissionId: number | null) => ({
        tenant_id: this.tenantId,
        course_id: write.courseId,
        column_id: write.columnId,
        user_id: write.userId,
        submission_id: submissionId,
        score: state.score,
        grade: state.grade,
        points_possible: write.pointsPossible,
        workflow_state: state.workflowState,
        excused: state.excused,
        late: state.late,
        missing: state.missing,
        graded_at: write.gradedAt,
        recorded_at: this.now,
        grader_id: write.graderId,
        source: write.source,
        api_client_id: write.apiClientId ?? null,
        idempotency_key: write.idempotencyKey,
      });
      const written =
        dbClient(trx) === 'postgres'
          ? await this.writeTogether([...finals.values()], pending, versionRow)
          : null;
      if (written) {
        for (const { write } of pending) {
          const cur = this.current.get(key(write.columnId, write.userId));
          const id = written.get(key(write.columnId, write.userId));
          if (cur && cur.submissionId === null && id !== undefined) cur.submissionId = id;
        }
      } else {
        const submissionIds =
          finals.size > 0
            ? await this.writeSubmissions([...finals.values()])
            : new Map<string, number>();
        const versions = pending.map((p) => {
          const k = key(p.write.columnId, p.write.userId);
          const cur = this.current.get(k);
          // A late write's submission exists: the newer grade it lost to is stored.
          const submissionId = submissionIds.get(k) ?? cur?.submissionId ?? p.state.submissionId!;
          if (cur && cur.submissionId === null) cur.submissionId = submissionId;
          return versionRow(p, submissionId);
        });
        await insertRows(trx, 'grade_versions', versions, { asJson: true });
      }
      await followGradeChanges(trx, {
        tenantId: this.tenantId,
        now: this.now,
        changes: pending.map(({ write, state, superseded }) => ({
          courseId: write.courseId,
          columnId: write.columnId,
          userId: write.userId,
          graderId: write.graderId,
          gradedAt: write.gradedAt,
          source: write.source,
          score: state.score,
          grade: state.grade,
          superseded,
        })),
      });
    }
    for (const [courseId, change] of this.touchedCourses) {
      await writeRows(
        trx,
        'update gradebooks set last_change_type = ?, last_change_user = ?, last_change_time = ?, updated_at = ? where course_id = ? and tenant_id = ?',
        [change.type, change.user, this.now, this.now, courseId, this.tenantId],
      );
    }
    this.touchedCourses.clear();
    return pending.length;
  }
}

function emptyGrade(): CurrentGrade {
  return {
    submissionId: null,
    score: null,
    grade: null,
    gradedAt: null,
    changedAt: null,
    graderId: null,
    workflowState: 'unsubmitted',
    excused: false,
    late: false,
    missing: false,
  };
}
