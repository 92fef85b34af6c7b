import { BaseModel } from '../db/base-model.js';

export class ApiClient extends BaseModel {
  static override tableName = 'api_clients';
  declare id: number;
  declare tenantId: number;
  declare clientId: string;
  declare secretHash: string;
  declare name: string;
  declare scopes: string;
  declare graderUserId: number | null;
  declare lastTokenAt: string | null;
  declare revokedAt: string | null;
  declare createdAt: string;
  declare updatedAt: string;
}
