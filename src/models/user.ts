import { BaseModel } from '../db/base-model.js';

export type UserKind = 'person' | 'service';

export class User extends BaseModel {
  static override tableName = 'users';
  declare id: number;
  declare tenantId: number;
  declare uuid: string;
  declare batchUid: string | null;
  declare name: string | null;
  declare email: string | null;
  declare kind: UserKind;
  declare createdAt: string;
  declare updatedAt: string;
}
