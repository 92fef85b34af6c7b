import { BaseModel } from '../db/base-model.js';
import type { GradeSymbol } from '../grades/symbols.js';

export class GradeSchema extends BaseModel {
  static override tableName = 'grade_schemas';
  static override jsonAttributes = ['symbols', 'optionalData'];
  declare id: number;
  declare tenantId: number;
  declare title: string;
  declare symbols: GradeSymbol[];
  declare optionalData: Record<string, string> | null;
  declare createdAt: string;
  declare updatedAt: string;
}
