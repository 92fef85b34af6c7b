import { BaseModel } from '../db/base-model.js';

export class Enrollment extends BaseModel {
  static override tableName = 'enrollments';
  static override jsonAttributes = ['optionalData'];
  declare id: number;
  declare tenantId: number;
  declare courseId: number;
  declare userId: number;
  declare role: string;
  declare optionalData: Record<string, string> | null;
  declare source: string;
  declare createdAt: string;
  declare updatedAt: string;
}
