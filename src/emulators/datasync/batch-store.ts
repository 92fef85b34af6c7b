import crypto from 'node:crypto';
import type { BatchRecord } from './types.js';

/** Batch exchanges, and the errors and context data posted to them. */
export class BatchStore {
  private readonly batches = new Map<string, BatchRecord>();

  create(): BatchRecord {
    const record: BatchRecord = {
      id: crypto.randomUUID(),
      createdAt: new Date().toISOString(),
      errors: [],
      data: [],
    };
    this.batches.set(record.id, record);
    return record;
  }

  get(id: string): BatchRecord | undefined {
    return this.batches.get(id);
  }

  all(): BatchRecord[] {
    return [...this.batches.values()];
  }
}
