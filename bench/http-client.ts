/**
 * Sends a list of JSON requests one after another from a worker thread, so
 * the load generator does not share the event loop of the server it measures.
 */
import { Worker } from 'node:worker_threads';

export interface RequestPlan {
  url?: string;
  /** One URL per request, instead of `url`. */
  urls?: string[];
  token: string;
  /** One body per request (ignored for GET, but sets the number of requests). */
  bodies: string[];
  /** Requests in flight at once (default 1: one after another). */
  concurrency?: number;
  method?: 'GET' | 'POST';
  headers?: Record<string, string>;
  /** Fail when a response body contains this text (e.g. '"status":"ERROR"'). */
  failOn?: string;
}

export interface PlanResult {
  seconds: number;
  latenciesMs: number[];
}

export function runPlan(plan: RequestPlan): Promise<PlanResult> {
  return new Promise((resolve, reject) => {
    const worker = new Worker(new URL('./http-worker.mjs', import.meta.url), { workerData: plan });
    worker.once('message', (m: PlanResult | { error: string }) => {
      void worker.terminate();
      if ('error' in m) reject(new Error(m.error));
      else resolve(m);
    });
    worker.once('error', reject);
  });
}
