import { Model, snakeCaseMappers, type Pojo } from 'objection';
import { toBool } from './time.js';

/**
 * Objection base: snake_case columns become camelCase properties; boolean
 * columns read the same on SQLite (0/1) and PostgreSQL (true/false).
 */
export class BaseModel extends Model {
  static override get columnNameMappers() {
    return snakeCaseMappers();
  }

  /** camelCase names of boolean columns. */
  static booleanColumns: readonly string[] = [];

  override $parseDatabaseJson(json: Pojo): Pojo {
    const parsed = super.$parseDatabaseJson(json);
    for (const name of (this.constructor as typeof BaseModel).booleanColumns) {
      if (name in parsed) parsed[name] = toBool(parsed[name]);
    }
    return parsed;
  }
}
