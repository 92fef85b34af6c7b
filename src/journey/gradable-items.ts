import { createCourse, findCoursesByBatchUid, type CourseRef } from '../courses/service.js';
import type { Trx } from '../db/knex.js';
import { lockTenant } from '../db/locks.js';
import {
  createsCycle,
  parseTotalMapping,
  parseWeightedMapping,
  TOTAL,
  WEIGHTED,
  type Calculation,
} from '../grades/calculation.js';
import { CourseColumns, loadCourseColumns, type ColumnInfo } from '../grades/course-columns.js';
import type { GradebookChange } from '../grades/grade-batch.js';
import { toJson } from '../db/json.js';
import { parseOptionalData } from '../grades/optional-data.js';
import { effectivePoints } from '../grades/recalculate.js';
import type { GradeSchema } from '../models/grade-schema.js';
import type { JourneyActor } from './actor.js';
import { lockedMessage } from './column-targets.js';
import { findGradeSchemas } from './find-grade-schemas.js';
import { fail, ok, prepare } from './item-results.js';
import { recalculateCourses } from './recalculate-courses.js';
import { gradableItem, type GradableItem, type ItemResult } from './schemas.js';

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

/**
 * gradableItemsAPI: creates or updates columns by course and name; creates the
 * course (and its gradebook) for an unknown courseId.
 */
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
