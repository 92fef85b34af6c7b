import { BaseModel } from '../db/base-model.js';
import type { Calculation } from '../grades/calculation.js';

export class GradeColumn extends BaseModel {
  static override tableName = 'grade_columns';
  static override jsonAttributes = ['calculation', 'optionalData'];
  static override booleanColumns = [
    'isExternal',
    'anonymous',
    'groupSubmission',
    'available',
    'tracked',
    'extract',
  ];
  declare id: number;
  declare tenantId: number;
  declare courseId: number;
  declare name: string;
  declare itemType: string;
  declare points: number;
  declare gradeSchemaId: number | null;
  declare mapping: string | null;
  declare calculation: Calculation | null;
  declare isExternal: boolean;
  declare instructions: string | null;
  declare anonymous: boolean;
  declare groupSubmission: boolean;
  declare contentAreaName: string | null;
  declare available: boolean;
  declare color: string | null;
  declare attempts: number;
  declare tracked: boolean;
  declare startAt: string | null;
  declare endAt: string | null;
  declare dueAt: string | null;
  declare sequenceNum: number | null;
  declare extract: boolean;
  declare optionalData: Record<string, string> | null;
  declare source: string;
  declare deletedAt: string | null;
  declare createdAt: string;
  declare updatedAt: string;
}
