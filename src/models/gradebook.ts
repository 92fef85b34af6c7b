import { BaseModel } from '../db/base-model.js';

export class Gradebook extends BaseModel {
  static override tableName = 'gradebooks';
  static override booleanColumns = ['isLocked'];
  declare id: number;
  declare uuid: string;
  declare tenantId: number;
  declare courseId: number;
  declare title: string | null;
  declare type: string | null;
  declare reference: string | null;
  declare isLocked: boolean;
  declare achievementId: string | null;
  declare achievementTitle: string | null;
  declare frameworkId: string | null;
  declare periodId: string | null;
  declare lastChangeType: string | null;
  declare lastChangeUser: string | null;
  declare lastChangeTime: string;
  declare createdAt: string;
  declare updatedAt: string;
}
