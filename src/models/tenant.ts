import { BaseModel } from '../db/base-model.js';

export class Tenant extends BaseModel {
  static override tableName = 'tenants';
  declare id: number;
  declare uuid: string;
  declare name: string;
  declare timeZone: string;
  declare createdAt: string;
  declare updatedAt: string;
}
