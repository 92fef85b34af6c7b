import type { ClientInput, ClientRecord } from './types.js';

/** The OAuth2 clients allowed to ask for tokens, by client id. */
export class ClientRegistry {
  private readonly clients = new Map<string, ClientRecord>();

  /** Adds a client, or replaces the one with the same id. */
  add(input: ClientInput): ClientRecord {
    if (typeof input.clientId !== 'string' || input.clientId === '') {
      throw new Error('clientId must be a non-empty string.');
    }
    if (typeof input.clientSecret !== 'string' || input.clientSecret === '') {
      throw new Error('clientSecret must be a non-empty string.');
    }
    if (input.courseAppId !== undefined && typeof input.courseAppId !== 'string') {
      throw new Error('courseAppId must be a string.');
    }
    const record: ClientRecord = {
      clientId: input.clientId,
      clientSecret: input.clientSecret,
      courseAppId: input.courseAppId ?? null,
    };
    this.clients.set(record.clientId, record);
    return { ...record };
  }

  /** The client when the secret is right. */
  authenticate(clientId: string, clientSecret: string): ClientRecord | undefined {
    const client = this.clients.get(clientId);
    return client && client.clientSecret === clientSecret ? client : undefined;
  }

  list(): ClientRecord[] {
    return [...this.clients.values()].map((c) => ({ ...c }));
  }
}
