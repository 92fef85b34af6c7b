import { randomUUID } from 'node:crypto';
import type { z } from 'zod';
import {
  createCourse,
  ensureEnrollments,
  ensureUsersByBatchUid,
  findCoursesByBatchUid,
  type CourseRef,
} from '../courses/service.js';
import type { Trx } from '../db/knex.js';
import { lockCourses, lockTenant } from '../db/locks.js';
import {
  createsCycle,
  parseTotalMapping,
  parseWeightedMapping,
  TOTAL,
  WEIGHTED,
  type Calculation,
} from '../grades/calculation.js';
import { CourseColumns, loadCourseColumns, type ColumnInfo } from '../grades/course-columns.js';
import { GradeBatch, chunk, type GradebookChange } from '../grades/grade-batch.js';
import { interpretValue } from '../grades/grading.js';
import { toJson } from '../grades/json.js';
import { parseOptionalData } from '../grades/optional-data.js';
import { courseUserIds, effectivePoints, recalculate } from '../grades/recalculate.js';
import { parseSymbols } from '../grades/symbols.js';
import { describeIssues, formatIssues } from '../http/validation.js';
import { GradeSchema } from '../models/grade-schema.js';
import {
  columnRef,
  gradableItem,
  gradeSchemaItem,
  gradeValueItem,
  userMetadataItem,
  type ColumnRef,
  type GradableItem,
  type GradeValueItem,
  type ItemResult,
  type UserMetadataItem,
} from './schemas.js';

/** Who is calling: the API client behind the token. */
export interface JourneyActor {
  tenantId: number;
  apiClientId: number;
  graderUserId: number | null;
  /** Shown as the gradebook's last change user. */
  name: string;
}

interface Prepared<T> {
  index: number;
  value: T;
}

const ok = (results: ItemResult[], index: number, message: string) => {
  results[index] = { ...results[index]!, status: 'OK', message };
};
const fail = (results: ItemResult[], index: number, message: string) => {
  results[index] = { ...results[index]!, status: 'ERROR', message };
};

/**
 * Validates every item of a batch against its schema. Items that fail get
 * their ERROR result now; the rest go on to the endpoint's own rules.
 */
function prepare<S extends z.ZodType>(
  schema: S,
  items: unknown[],
  echo: (item: Record<string, unknown>) => { courseId: unknown; name: unknown },
): { results: ItemResult[]; valid: Array<Prepared<z.output<S>>> } {
  const results: ItemResult[] = [];
  const valid: Array<Prepared<z.output<S>>> = [];
  items.forEach((item, index) => {
    const isObject = typeof item === 'object' && item !== null && !Array.isArray(item);
    const shown = isObject ? echo(item as Record<string, unknown>) : { courseId: '', name: '' };
    results.push({
      courseId: typeof shown.courseId === 'string' ? shown.courseId : '',
      name: typeof shown.name === 'string' ? shown.name : '',
      status: 'OK',
      message: '',
    });
    if (!isObject) {
      fail(results, index, 'item must be a JSON object');
      return;
    }
    const parsed = schema.safeParse(item);
    if (!parsed.success) {
      fail(results, index, describeIssues(formatIssues(parsed.error)));
      return;
    }
    valid.push({ index, value: parsed.data });
  });
  return { results, valid };
}

const lockedMessage = (courseId: string) =>
  `the gradebook of course "${courseId}" is locked; unlock it before changing it`;

/** A tenant's grade schemas by title. */
async function findGradeSchemas(
  trx: Trx,
  tenantId: number,
  titles: string[],
): Promise<Map<string, GradeSchema>> {
  const found = new Map<string, GradeSchema>();
  for (const part of chunk([...new Set(titles)], 500)) {
    const rows = await GradeSchema.query(trx).where({ tenant_id: tenantId }).whereIn('title', part);
    for (const s of rows) found.set(s.title, s);
  }
  return found;
}

/**
 * The live column an item names, in a course whose gradebook may change;
 * otherwise the item fails (no such column, or the gradebook is locked).
 */
function writableColumn(
  results: ItemResult[],
  index: number,
  item: { courseId: string; name: string },
  course: CourseRef,
  columns: CourseColumns,
): ColumnInfo | undefined {
  const column = columns.byName.get(item.name);
  if (!column) {
    fail(results, index, `grade column "${item.name}" does not exist in course "${item.courseId}"`);
    return undefined;
  }
  if (course.isLocked) {
    fail(results, index, lockedMessage(item.courseId));
    return undefined;
  }
  return column;
}

// ---------------------------------------------------------------------------
// gradeSchemasAPI

export async function upsertGradeSchemas(
  trx: Trx,
  actor: JourneyActor,
  items: unknown[],
  now: string,
): Promise<ItemResult[]> {
  const { results, valid } = prepare(gradeSchemaItem, items, (i) => ({
    courseId: '',
    name: i.title,
  }));
  await lockTenant(trx, actor.tenantId);
  const existing = await findGradeSchemas(
    trx,
    actor.tenantId,
    valid.map((v) => v.value.title),
  );
  for (const { index, value } of valid) {
    const symbols = parseSymbols(value.symbols);
    if (!symbols.ok) {
      fail(results, index, symbols.error);
      continue;
    }
    const data = parseOptionalData(value.optionalData);
    if (!data.ok) {
      fail(results, index, data.error);
      continue;
    }
    const found = existing.get(value.title);
    if (found) {
      await GradeSchema.query(trx)
        .findById(found.id)
        .patch({
          symbols: symbols.value,
          ...(value.optionalData == null ? {} : { optionalData: data.value }),
          updatedAt: now,
        });
      ok(results, index, 'Grade schema successfully updated');
    } else {
      const created = await GradeSchema.query(trx).insertAndFetch({
        tenantId: actor.tenantId,
        title: value.title,
        symbols: symbols.value,
        optionalData: data.value,
        createdAt: now,
        updatedAt: now,
      });
      existing.set(created.title, created);
      ok(results, index, 'Grade schema successfully created');
    }
  }
  return results;
}

// ---------------------------------------------------------------------------
// gradableItemsAPI

function columnRow(item: GradableItem, existing: ColumnInfo | undefined) {
  const row: Record<string, unknown> = {};
  const set = (key: string, value: unknown) => {
    if (value !== undefined && value !== null) row[key] = value;
  };
  set('instructions', item.instructions);
  set('anonymous', item.anonymous);
  set('group_submission', item.group);
  set('content_area_name', item.contentAreaName);
  set('available', item.available);
  set('color', item.color);
  set('attempts', item.attempts);
  set('tracked', item.tracked);
  set('sequence_num', item.sequenceNum);
  set('extract', item.extract);
  // Dates: "" clears, absent keeps.
  for (const [field, column] of [
    ['startDate', 'start_at'],
    ['endDate', 'end_at'],
    ['dueDate', 'due_at'],
  ] as const) {
    if (item[field] !== undefined && (item[field] !== null || existing)) row[column] = item[field];
  }
  return row;
}

export async function upsertGradableItems(
  trx: Trx,
  actor: JourneyActor,
  items: unknown[],
  now: string,
): Promise<ItemResult[]> {
  const { results, valid } = prepare(gradableItem, items, (i) => ({
    courseId: i.courseId,
    name: i.name,
  }));
  await lockTenant(trx, actor.tenantId);
  const courses = await findCoursesByBatchUid(
    trx,
    actor.tenantId,
    valid.map((v) => v.value.courseId),
  );
  const columnsByCourse = await loadCourseColumns(
    trx,
    actor.tenantId,
    [...courses.values()].map((c) => c.id),
  );
  const schemas = await findGradeSchemas(
    trx,
    actor.tenantId,
    valid.map((v) => v.value.gradeSchema ?? v.value.gradeschema).filter((t): t is string => !!t),
  );
  /** Columns whose grades must be recomputed downstream, per course. */
  const changed = new Map<number, Set<number>>();
  const change: GradebookChange = { type: 'ColumnChanged', user: actor.name };

  for (const { index, value: item } of valid) {
    const schemaTitle = item.gradeSchema ?? item.gradeschema;
    let schema: GradeSchema | null = null;
    if (schemaTitle) {
      schema = schemas.get(schemaTitle) ?? null;
      if (!schema) {
        fail(
          results,
          index,
          `grade schema "${schemaTitle}" does not exist; create it with gradeSchemasAPI first`,
        );
        continue;
      }
    }
    const course: CourseRef | undefined = courses.get(item.courseId);
    if (course?.isLocked) {
      fail(results, index, lockedMessage(item.courseId));
      continue;
    }
    const columns = (course && columnsByCourse.get(course.id)) || new CourseColumns(0);
    const existing = columns.byName.get(item.name);
    const isCalculated = item.itemType === WEIGHTED || item.itemType === TOTAL;

    // The calculation: from the mapping when one is given ("" clears it), else kept from before.
    let calculation: Calculation | null = null;
    let mappingText: string | null = null;
    if (item.mapping != null && item.mapping.trim() !== '') {
      if (!isCalculated) {
        fail(
          results,
          index,
          `mapping applies only to ${WEIGHTED} and ${TOTAL} items, not ${item.itemType}`,
        );
        continue;
      }
      const resolved = resolveMapping(item, columns, existing);
      if (!resolved.ok) {
        fail(results, index, resolved.error);
        continue;
      }
      calculation = resolved.value;
      mappingText = item.mapping.trim();
    } else if (item.mapping == null && existing?.calculation && isCalculated) {
      const sameKind = (existing.calculation.type === 'weighted') === (item.itemType === WEIGHTED);
      if (sameKind) {
        calculation = existing.calculation;
        mappingText = existing.mapping;
      }
    }
    const data = parseOptionalData(item.optionalData);
    if (!data.ok) {
      fail(results, index, data.error);
      continue;
    }

    // Every rule passed: write.
    let target = course;
    if (!target) {
      target = await createCourse(
        trx,
        actor.tenantId,
        { batchUid: item.courseId, title: item.courseId, source: 'journey' },
        now,
      );
      courses.set(item.courseId, target);
      columnsByCourse.set(target.id, new CourseColumns(target.id));
    }
    const courseColumns = columnsByCourse.get(target.id)!;
    const symbols = schema
      ? schema.symbols
      : existing && schemaTitle === undefined
        ? existing.symbols
        : null;
    const gradeSchemaId = schema
      ? schema.id
      : existing && schemaTitle === undefined
        ? existing.gradeSchemaId
        : null;
    let points = item.points ?? existing?.points ?? 100;
    const draft: ColumnInfo = {
      id: existing?.id ?? 0,
      courseId: target.id,
      name: item.name,
      itemType: item.itemType,
      points,
      calculation,
      mapping: mappingText,
      gradeSchemaId,
      symbols,
      isExternal: existing?.isExternal ?? false,
      deleted: false,
    };
    if (calculation?.type === 'total')
      points = draft.points = effectivePoints(draft, courseColumns);

    const row = {
      ...columnRow(item, existing),
      item_type: item.itemType,
      points,
      grade_schema_id: gradeSchemaId,
      calculation: toJson(calculation),
      mapping: mappingText,
      updated_at: now,
      ...(item.optionalData !== undefined && item.optionalData !== null
        ? { optional_data: toJson(data.value) }
        : {}),
    };
    const touched = changed.get(target.id) ?? new Set<number>();
    changed.set(target.id, touched);
    if (existing) {
      await trx('grade_columns').where({ id: existing.id }).update(row);
      const definitionChanged =
        existing.points !== points ||
        existing.gradeSchemaId !== gradeSchemaId ||
        JSON.stringify(existing.calculation) !== JSON.stringify(calculation);
      Object.assign(existing, draft);
      if (definitionChanged) markChanged(touched, existing);
      ok(results, index, 'Gradecolumn successfully updated');
    } else {
      const [inserted] = await trx('grade_columns')
        .insert({
          tenant_id: actor.tenantId,
          course_id: target.id,
          name: item.name,
          source: 'journey',
          created_at: now,
          ...row,
        })
        .returning(['id']);
      draft.id = inserted.id;
      courseColumns.add(draft);
      if (calculation) markChanged(touched, draft);
      ok(results, index, 'Gradecolumn successfully created');
    }
  }

  await recalculateCourses(trx, actor, columnsByCourse, changed, now, change);
  return results;
}

/** A changed column: its own readers need recomputing, and so does it when it is calculated. */
function markChanged(touched: Set<number>, column: ColumnInfo): void {
  touched.add(column.id);
  for (const input of column.calculation?.inputs ?? []) touched.add(input.columnId);
}

function resolveMapping(
  item: GradableItem,
  columns: CourseColumns,
  existing: ColumnInfo | undefined,
): { ok: true; value: Calculation } | { ok: false; error: string } {
  const resolve = (name: string) => {
    if (name === item.name) return { error: `mapping: column "${name}" cannot include itself` };
    const column = columns.byName.get(name);
    if (!column)
      return { error: `mapping: column "${name}" does not exist in course "${item.courseId}"` };
    return { column };
  };
  let calculation: Calculation;
  if (item.itemType === WEIGHTED) {
    const parsed = parseWeightedMapping(item.mapping!);
    if (!parsed.ok) return parsed;
    const inputs: Array<{ columnId: number; weight: number }> = [];
    for (const entry of parsed.value) {
      const r = resolve(entry.name);
      if ('error' in r) return { ok: false, error: r.error! };
      inputs.push({ columnId: r.column.id, weight: entry.weight });
    }
    calculation = { type: 'weighted', inputs };
  } else {
    const parsed = parseTotalMapping(item.mapping!);
    if (!parsed.ok) return parsed;
    const inputs: Array<{ columnId: number }> = [];
    for (const name of parsed.value) {
      const r = resolve(name);
      if ('error' in r) return { ok: false, error: r.error! };
      inputs.push({ columnId: r.column.id });
    }
    calculation = { type: 'total', inputs };
  }
  if (
    existing &&
    createsCycle(
      existing.id,
      calculation.inputs.map((i) => i.columnId),
      columns.calculations(),
    )
  ) {
    return {
      ok: false,
      error: `mapping: column "${item.name}" would depend on itself through other calculated columns`,
    };
  }
  return { ok: true, value: calculation };
}

/** Recomputes calculated columns downstream of changed columns, for every user of each course. */
async function recalculateCourses(
  trx: Trx,
  actor: JourneyActor,
  columnsByCourse: Map<number, CourseColumns>,
  changed: Map<number, Set<number>>,
  now: string,
  change: GradebookChange,
): Promise<void> {
  if (changed.size === 0) return;
  const batch = new GradeBatch(trx, actor.tenantId, now);
  const keyPrefix = `calc:${randomUUID()}`;
  for (const [courseId, columnIds] of changed) {
    batch.touch(courseId, change);
    const columns = columnsByCourse.get(courseId)!;
    const computed = await recalculate(
      batch,
      columns,
      columnIds,
      await courseUserIds(trx, courseId),
      {
        gradedAt: now,
        keyPrefix,
        change: { type: 'GradeCalculated', user: actor.name },
      },
    );
    await syncTotalPoints(trx, columns, computed, now);
  }
  await batch.flush();
}

/** Keeps a total column's stored points equal to the sum of its live inputs'. */
async function syncTotalPoints(
  trx: Trx,
  columns: CourseColumns,
  ids: number[],
  now: string,
): Promise<void> {
  for (const id of ids) {
    const column = columns.live(id);
    if (column?.calculation?.type !== 'total') continue;
    const points = effectivePoints(column, columns);
    if (points !== column.points) {
      column.points = points;
      await trx('grade_columns').where({ id }).update({ points, updated_at: now });
    }
  }
}

// ---------------------------------------------------------------------------
// gradeColumnDeleteAPI and externalGradeColumnAPI

interface ColumnTarget {
  index: number;
  item: ColumnRef;
  course: CourseRef;
  columns: CourseColumns;
}

/** Validates column references and finds their courses; unknown courses fail the item. */
async function resolveColumnRefs(
  trx: Trx,
  actor: JourneyActor,
  items: unknown[],
): Promise<{
  results: ItemResult[];
  targets: ColumnTarget[];
  columnsByCourse: Map<number, CourseColumns>;
}> {
  const { results, valid } = prepare(columnRef, items, (i) => ({
    courseId: i.courseId,
    name: i.name,
  }));
  await lockTenant(trx, actor.tenantId);
  const courses = await findCoursesByBatchUid(
    trx,
    actor.tenantId,
    valid.map((v) => v.value.courseId),
  );
  const columnsByCourse = await loadCourseColumns(
    trx,
    actor.tenantId,
    [...courses.values()].map((c) => c.id),
  );
  const targets: ColumnTarget[] = [];
  for (const { index, value: item } of valid) {
    const course = courses.get(item.courseId);
    if (!course) fail(results, index, `course "${item.courseId}" does not exist`);
    else targets.push({ index, item, course, columns: columnsByCourse.get(course.id)! });
  }
  return { results, targets, columnsByCourse };
}

export async function deleteGradeColumns(
  trx: Trx,
  actor: JourneyActor,
  items: unknown[],
  now: string,
): Promise<ItemResult[]> {
  const { results, targets, columnsByCourse } = await resolveColumnRefs(trx, actor, items);
  const changed = new Map<number, Set<number>>();
  for (const { index, item, course, columns } of targets) {
    const column = writableColumn(results, index, item, course, columns);
    if (!column) continue;
    await trx('grade_columns')
      .where({ id: column.id })
      .update({ deleted_at: now, is_external: false, updated_at: now });
    columns.remove(column);
    column.isExternal = false;
    const set = changed.get(course.id) ?? new Set<number>();
    set.add(column.id);
    changed.set(course.id, set);
    ok(results, index, 'Grade column successfully deleted');
  }
  await recalculateCourses(trx, actor, columnsByCourse, changed, now, {
    type: 'ColumnDeleted',
    user: actor.name,
  });
  return results;
}

export async function setExternalGradeColumns(
  trx: Trx,
  actor: JourneyActor,
  items: unknown[],
  now: string,
): Promise<ItemResult[]> {
  const { results, targets } = await resolveColumnRefs(trx, actor, items);
  const batch = new GradeBatch(trx, actor.tenantId, now);
  for (const { index, item, course, columns } of targets) {
    const column = writableColumn(results, index, item, course, columns);
    if (!column) continue;
    await trx('grade_columns')
      .where({ course_id: course.id, is_external: true })
      .update({ is_external: false, updated_at: now });
    await trx('grade_columns')
      .where({ id: column.id })
      .update({ is_external: true, updated_at: now });
    for (const c of columns.byId.values()) c.isExternal = c.id === column.id;
    batch.touch(course.id, { type: 'ExternalColumnSet', user: actor.name });
    ok(results, index, 'External grade column successfully updated');
  }
  await batch.flush();
  return results;
}

// ---------------------------------------------------------------------------
// userMetadataAPI

export async function upsertUserMetadata(
  trx: Trx,
  actor: JourneyActor,
  items: unknown[],
  now: string,
): Promise<ItemResult[]> {
  const { results, valid } = prepare(userMetadataItem, items, (i) => ({
    courseId: i.courseId,
    name: i.userId,
  }));
  const good: Array<{
    index: number;
    item: UserMetadataItem;
    data: Record<string, string> | null;
  }> = [];
  for (const { index, value } of valid) {
    const data = parseOptionalData(value.optionalData);
    if (!data.ok) fail(results, index, data.error);
    else good.push({ index, item: value, data: data.value });
  }
  if (good.length === 0) return results;
  await lockTenant(trx, actor.tenantId);
  const courses = await findCoursesByBatchUid(
    trx,
    actor.tenantId,
    good.map((g) => g.item.courseId),
  );
  const writable: typeof good = [];
  for (const g of good) {
    const course = courses.get(g.item.courseId);
    if (course?.isLocked) fail(results, g.index, lockedMessage(g.item.courseId));
    else writable.push(g);
  }
  for (const g of writable) {
    if (!courses.has(g.item.courseId)) {
      courses.set(
        g.item.courseId,
        await createCourse(
          trx,
          actor.tenantId,
          { batchUid: g.item.courseId, title: g.item.courseId, source: 'journey' },
          now,
        ),
      );
    }
  }
  const users = await ensureUsersByBatchUid(
    trx,
    actor.tenantId,
    writable.map((g) => g.item.userId),
    now,
  );
  const pairs = writable.map((g) => ({
    courseId: courses.get(g.item.courseId)!.id,
    userId: users.get(g.item.userId)!,
  }));
  const created = await ensureEnrollments(trx, actor.tenantId, pairs, 'Learner', 'journey', now);
  const reported = new Set<string>();
  const batch = new GradeBatch(trx, actor.tenantId, now);
  for (const [i, g] of writable.entries()) {
    const pair = pairs[i]!;
    const key = `${pair.courseId}:${pair.userId}`;
    if (g.item.optionalData !== undefined && g.item.optionalData !== null) {
      await trx('enrollments')
        .where({ course_id: pair.courseId, user_id: pair.userId })
        .update({ optional_data: toJson(g.data), updated_at: now });
    }
    const isNew = created.has(key) && !reported.has(key);
    reported.add(key);
    batch.touch(pair.courseId, { type: 'EnrollmentChanged', user: actor.name });
    ok(
      results,
      g.index,
      isNew ? 'User metadata successfully created' : 'User metadata successfully updated',
    );
  }
  await batch.flush();
  return results;
}

// ---------------------------------------------------------------------------
// gradeValueAPI

interface ResolvedValue {
  index: number;
  item: GradeValueItem;
  course: CourseRef;
  column: ColumnInfo;
  points: number;
  score: number | null;
  grade: string;
}

/**
 * Writes grade values. The whole batch is resolved with a handful of queries
 * (courses, columns, users, enrollments, current grades), every grade that
 * differs from the current one becomes a version, calculated columns that
 * read a changed column are recomputed, and everything is written in bulk.
 */
export async function writeGradeValues(
  trx: Trx,
  actor: JourneyActor,
  items: unknown[],
  now: string,
): Promise<ItemResult[]> {
  const { results, valid } = prepare(gradeValueItem, items, (i) => ({
    courseId: i.courseId,
    name: i.name,
  }));
  if (valid.length === 0) return results;
  const courses = await findCoursesByBatchUid(
    trx,
    actor.tenantId,
    valid.map((v) => v.value.courseId),
  );
  await lockCourses(
    trx,
    [...courses.values()].map((c) => c.id),
  );
  const columnsByCourse = await loadCourseColumns(
    trx,
    actor.tenantId,
    [...courses.values()].map((c) => c.id),
  );

  const resolved: ResolvedValue[] = [];
  for (const { index, value: item } of valid) {
    const course = courses.get(item.courseId);
    if (!course) {
      fail(results, index, `course "${item.courseId}" does not exist`);
      continue;
    }
    const columns = columnsByCourse.get(course.id)!;
    const column = writableColumn(results, index, item, course, columns);
    if (!column) continue;
    if (column.itemType === WEIGHTED || column.itemType === TOTAL) {
      fail(
        results,
        index,
        `grade column "${item.name}" is a ${column.itemType}; its values are calculated`,
      );
      continue;
    }
    const points = effectivePoints(column, columns);
    const value = interpretValue(column, points, item.value);
    if (!value.ok) {
      fail(results, index, value.error);
      continue;
    }
    resolved.push({ index, item, course, column, points, score: value.score, grade: value.grade });
  }
  if (resolved.length === 0) return results;

  const users = await ensureUsersByBatchUid(
    trx,
    actor.tenantId,
    resolved.map((r) => r.item.userId),
    now,
  );
  await ensureEnrollments(
    trx,
    actor.tenantId,
    resolved.map((r) => ({ courseId: r.course.id, userId: users.get(r.item.userId)! })),
    'Learner',
    'journey',
    now,
  );
  const batch = new GradeBatch(trx, actor.tenantId, now);
  await batch.load(
    resolved.map((r) => ({ columnId: r.column.id, userId: users.get(r.item.userId)! })),
  );
  const keyPrefix = `jv:${randomUUID()}`;
  const change: GradebookChange = { type: 'GradeChanged', user: actor.name };
  const changed = new Map<number, { columns: Set<number>; users: Set<number> }>();
  for (const r of resolved) {
    const userId = users.get(r.item.userId)!;
    const recorded = batch.record(
      {
        courseId: r.course.id,
        columnId: r.column.id,
        userId,
        score: r.score,
        grade: r.grade,
        pointsPossible: r.points,
        gradedAt: now,
        graderId: actor.graderUserId,
        source: 'journey',
        apiClientId: actor.apiClientId,
        idempotencyKey: `${keyPrefix}:${r.index}`,
      },
      change,
    );
    if (recorded) {
      let entry = changed.get(r.course.id);
      if (!entry) changed.set(r.course.id, (entry = { columns: new Set(), users: new Set() }));
      entry.columns.add(r.column.id);
      entry.users.add(userId);
    }
    ok(results, r.index, recorded ? 'Grade value successfully added' : 'Grade value unchanged');
  }
  for (const [courseId, entry] of changed) {
    await recalculate(batch, columnsByCourse.get(courseId)!, entry.columns, entry.users, {
      gradedAt: now,
      keyPrefix: `${keyPrefix}:calc`,
      change: { type: 'GradeCalculated', user: actor.name },
    });
  }
  await batch.flush();
  return results;
}
