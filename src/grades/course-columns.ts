import { inList, listParam, readRows } from '../db/bulk.js';
import type { Executor, Trx } from '../db/knex.js';
import { toBool } from '../db/time.js';
import type { Calculation } from './calculation.js';
import { parseJson } from '../db/json.js';
import type { GradeSymbol } from './symbols.js';

export interface ColumnInfo {
  id: number;
  courseId: number;
  name: string;
  itemType: string;
  points: number;
  calculation: Calculation | null;
  /** The mapping text as the SIS sent it. */
  mapping: string | null;
  gradeSchemaId: number | null;
  symbols: GradeSymbol[] | null;
  isExternal: boolean;
  deleted: boolean;
}

/** A course's columns, loaded once per batch, with live columns indexed by name. */
export class CourseColumns {
  readonly byId = new Map<number, ColumnInfo>();
  readonly byName = new Map<string, ColumnInfo>();

  constructor(readonly courseId: number) {}

  add(column: ColumnInfo): void {
    this.byId.set(column.id, column);
    if (!column.deleted) this.byName.set(column.name, column);
  }

  remove(column: ColumnInfo): void {
    column.deleted = true;
    if (this.byName.get(column.name) === column) this.byName.delete(column.name);
  }

  /** Calculations of the live columns, keyed by column id. */
  calculations(): Map<number, Calculation | null> {
    const map = new Map<number, Calculation | null>();
    for (const column of this.byName.values()) map.set(column.id, column.calculation);
    return map;
  }

  live(id: number): ColumnInfo | undefined {
    const column = this.byId.get(id);
    return column && !column.deleted ? column : undefined;
  }
}

export async function loadCourseColumns(
  db: Executor,
  tenantId: number,
  courseIds: number[],
  options: { includeDeleted?: boolean } = {},
): Promise<Map<number, CourseColumns>> {
  const result = new Map<number, CourseColumns>();
  for (const id of courseIds) result.set(id, new CourseColumns(id));
  if (courseIds.length === 0) return result;
  const query = db('grade_columns')
    .leftJoin('grade_schemas', 'grade_schemas.id', 'grade_columns.grade_schema_id')
    .select(
      'grade_columns.id',
      'grade_columns.course_id',
      'grade_columns.name',
      'grade_columns.item_type',
      'grade_columns.points',
      'grade_columns.calculation',
      'grade_columns.mapping',
      'grade_columns.grade_schema_id',
      'grade_columns.is_external',
      'grade_columns.deleted_at',
      'grade_schemas.symbols',
    )
    .where('grade_columns.tenant_id', tenantId)
    .whereIn('grade_columns.course_id', courseIds)
    .orderBy('grade_columns.id');
  if (!options.includeDeleted) query.whereNull('grade_columns.deleted_at');
  addColumnRows(result, (await query) as ColumnRow[]);
  return result;
}

/**
 * The live columns of courses, as loadCourseColumns reads them, through
 * readRows: one statement whatever the number of courses, prepared once on
 * SQLite (a batch of grades reads them on every request).
 */
export async function loadLiveCourseColumns(
  trx: Trx,
  tenantId: number,
  courseIds: number[],
): Promise<Map<number, CourseColumns>> {
  const result = new Map<number, CourseColumns>();
  for (const id of courseIds) result.set(id, new CourseColumns(id));
  if (courseIds.length === 0) return result;
  const rows = await readRows<ColumnRow>(
    trx,
    `select ${COLUMN_READ} from grade_columns gc left join grade_schemas gs on gs.id = gc.grade_schema_id
      where gc.tenant_id = ? and gc.course_id ${inList(trx, 'int')} and gc.deleted_at is null
      order by gc.id`,
    [tenantId, listParam(trx, courseIds)],
  );
  addColumnRows(result, rows);
  return result;
}

const COLUMN_READ =
  'gc.id, gc.course_id, gc.name, gc.item_type, gc.points, gc.calculation, gc.mapping, gc.grade_schema_id, gc.is_external, gc.deleted_at, gs.symbols';

/** A grade_columns row (with its schema's symbols) as loadCourseColumns reads it. */
export interface ColumnRow {
  id: number;
  course_id: number;
  name: string;
  item_type: string;
  points: number;
  calculation: unknown;
  mapping: string | null;
  grade_schema_id: number | null;
  is_external: unknown;
  deleted_at: string | null;
  symbols: unknown;
}

/**
 * PostgreSQL: the live columns of the courses `= any(?::int[])` of a tenant
 * `?`, as a JSON array of ColumnRow in id order, for a statement that reads
 * several things at once.
 */
export const liveColumnsJsonSql = `(select coalesce(json_agg(c order by c.id), '[]') from (
    select ${COLUMN_READ}
      from grade_columns gc left join grade_schemas gs on gs.id = gc.grade_schema_id
     where gc.tenant_id = ? and gc.course_id = any(?::int[]) and gc.deleted_at is null) c)`;

/** Adds rows read elsewhere (see liveColumnsJsonSql) to the courses' columns. */
export function addColumnRows(result: Map<number, CourseColumns>, rows: ColumnRow[]): void {
  for (const row of rows) {
    result.get(row.course_id)!.add({
      id: row.id,
      courseId: row.course_id,
      name: row.name,
      itemType: row.item_type,
      points: row.points,
      calculation: parseJson<Calculation>(row.calculation),
      mapping: row.mapping,
      gradeSchemaId: row.grade_schema_id,
      symbols: parseJson<GradeSymbol[]>(row.symbols),
      isExternal: toBool(row.is_external),
      deleted: row.deleted_at !== null,
    });
  }
}
