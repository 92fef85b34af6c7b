import { BaseModel } from '../db/base-model.js';

export class Course extends BaseModel {
  static override tableName = 'courses';
  declare id: number;
  declare tenantId: number;
  declare uuid: string;
  declare batchUid: string | null;
  declare title: string;
  declare startsAt: string | null;
  declare endsAt: string | null;
  declare source: string;
  declare createdAt: string;
  declare updatedAt: string;
}
