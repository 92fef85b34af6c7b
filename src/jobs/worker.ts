import { hostname } from 'node:os';
import { randomBytes } from 'node:crypto';
import type { AppDeps } from '../deps.js';
import { isoNow } from '../db/time.js';
import type { Logger } from '../logger.js';
import {
  claimJobs,
  completeJob,
  endExhaustedJobs,
  enqueue,
  extendLease,
  failJob,
  type ClaimedJob,
} from './queue.js';
import { errorText } from '../db/text.js';

/** Recorded in place of an error the database would not take (the worker's log has it). */
export const UNRECORDED_ERROR =
  "the job failed, and its error could not be recorded (the worker's log has it)";

/** Thrown by a job that wants to run again later without using up an attempt (a rate limit, a busy peer). */
export class RetryLater extends Error {
  constructor(
    readonly delayMs: number,
    message = 'asked to run again later',
  ) {
    super(message);
  }
}

/** Thrown by a job whose work can never succeed; it goes to the dead state at once. */
export class PermanentFailure extends Error {}

export interface JobContext {
  deps: AppDeps;
  job: ClaimedJob;
  log: Logger;
  /** Aborted when the worker is stopping; long jobs should stop at a safe point. */
  signal: AbortSignal;
}

export interface JobDefinition {
  name: string;
  maxAttempts?: number;
  /** Delay before attempt n+1 after attempt n failed; exponential with jitter by default. */
  backoffMs?: (attempt: number) => number;
  run(ctx: JobContext): Promise<void>;
}

export interface RecurringJob {
  name: string;
  everyMs: number;
  payload?: () => Record<string, unknown>;
}

/** 2 s, 4 s, 8 s ... capped at 10 minutes, each with up to 20 % jitter. */
export function exponentialBackoff(attempt: number, baseMs = 2000, capMs = 600_000): number {
  const delay = Math.min(capMs, baseMs * 2 ** Math.max(0, attempt - 1));
  return Math.round(delay * (1 + Math.random() * 0.2));
}

export interface WorkerOptions {
  concurrency: number;
  pollMs: number;
  leaseMs: number;
  /** Name written into claimed jobs and attempts. */
  id?: string;
}

/**
 * Claims due jobs and runs them: success marks them done, a failure schedules
 * the next attempt with backoff or, after the last attempt, the dead state.
 * Long jobs keep their lease alive with a heartbeat; if the process dies, the
 * lease runs out and another worker runs the job again. Recurring jobs are
 * enqueued once per period across all workers (a dedupe key per time slot).
 */
export class JobWorker {
  readonly id: string;
  private readonly definitions = new Map<string, JobDefinition>();
  private running = new Set<Promise<void>>();
  private timer: NodeJS.Timeout | null = null;
  private stopping = false;
  private readonly abort = new AbortController();
  private readonly log: Logger;
  private readonly lastSlot = new Map<string, number>();

  constructor(
    private readonly deps: AppDeps,
    definitions: JobDefinition[],
    private readonly recurring: RecurringJob[],
    private readonly options: WorkerOptions,
  ) {
    for (const d of definitions) this.definitions.set(d.name, d);
    this.id = options.id ?? `${hostname()}:${process.pid}:${randomBytes(3).toString('hex')}`;
    this.log = deps.logger.child({ worker: this.id });
  }

  start(): void {
    this.stopping = false;
    this.schedule(0);
  }

  /** Stops claiming, aborts running jobs' signal and waits for them (up to timeoutMs). */
  async stop(timeoutMs = 10_000): Promise<void> {
    this.stopping = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.abort.abort();
    await Promise.race([
      Promise.allSettled([...this.running]),
      new Promise((r) => setTimeout(r, timeoutMs).unref()),
    ]);
  }

  /** Runs due jobs until none is left (for tests, the command line and one-shot runs). */
  async drain(maxRounds = 1000): Promise<number> {
    let ran = 0;
    for (let round = 0; round < maxRounds; round++) {
      await this.endExhausted();
      const jobs = await claimJobs(
        this.deps.db,
        this.id,
        this.options.concurrency,
        this.options.leaseMs,
        isoNow(this.deps.clock),
      );
      if (jobs.length === 0) break;
      await Promise.all(jobs.map((job) => this.run(job)));
      ran += jobs.length;
    }
    return ran;
  }

  /** Enqueues this period's run of every recurring job (at most once per period across all workers). */
  async enqueueRecurring(): Promise<void> {
    const nowMs = this.deps.clock.now();
    for (const r of this.recurring) {
      const slot = Math.floor(nowMs / r.everyMs);
      if (this.lastSlot.get(r.name) === slot) continue;
      this.lastSlot.set(r.name, slot);
      await enqueue(this.deps.db, r.name, r.payload?.() ?? {}, isoNow(this.deps.clock), {
        dedupeKey: `recurring:${r.name}:${slot}`,
        maxAttempts: 3,
      });
    }
  }

  /** Ends the jobs whose lease ran out after their last attempt; a failure here does not stop claiming. */
  private async endExhausted(): Promise<void> {
    try {
      const n = await endExhaustedJobs(this.deps.db, isoNow(this.deps.clock));
      if (n > 0) this.log.warn({ jobs: n }, 'jobs whose last attempt did not finish are dead');
    } catch (err) {
      this.log.error({ err }, 'job worker could not end jobs whose last attempt did not finish');
    }
  }

  private ticking = false;
  private again = false;

  private schedule(delay: number): void {
    if (this.stopping) return;
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(() => void this.tick(), delay);
    this.timer.unref?.();
  }

  /** Asks for a claim round soon (a job finished, or one was enqueued in this process). */
  wake(): void {
    if (this.stopping) return;
    if (this.ticking) this.again = true;
    else this.schedule(0);
  }

  private async tick(): Promise<void> {
    if (this.ticking) return;
    this.ticking = true;
    let full = false;
    try {
      await this.enqueueRecurring();
      await this.endExhausted();
      const free = this.options.concurrency - this.running.size;
      if (free > 0) {
        const jobs = await claimJobs(
          this.deps.db,
          this.id,
          free,
          this.options.leaseMs,
          isoNow(this.deps.clock),
        );
        for (const job of jobs) {
          const p: Promise<void> = this.run(job).finally(() => {
            this.running.delete(p);
            this.wake();
          });
          this.running.add(p);
        }
        full = jobs.length === free;
      }
    } catch (err) {
      this.log.error({ err }, 'job worker could not claim jobs');
    } finally {
      this.ticking = false;
    }
    const soon = full || this.again;
    this.again = false;
    this.schedule(soon ? 0 : this.options.pollMs);
  }

  /**
   * Runs one claimed job and records how it ended. Never rejects: a failure
   * to record (the database refusing the write, or gone) is logged with the
   * job id, and the job is left to its lease; once that runs out after its
   * last attempt the job is dead (see endExhaustedJobs).
   */
  private async run(job: ClaimedJob): Promise<void> {
    const log = this.log.child({ job: job.id, name: job.name, attempt: job.attempt });
    try {
      await this.attempt(job, log);
    } catch (err) {
      log.error({ err }, 'job worker failed around a job; its lease decides what happens next');
    }
  }

  private async attempt(job: ClaimedJob, log: Logger): Promise<void> {
    const definition = this.definitions.get(job.name);
    if (!definition) {
      if (await this.recordFailure(job, log, `no job named "${job.name}" is registered`, null))
        log.error('unknown job; marked dead');
      return;
    }
    const heartbeat = setInterval(
      () => {
        const until = new Date(this.deps.clock.now() + this.options.leaseMs).toISOString();
        void extendLease(this.deps.db, job, this.id, until).catch((err) =>
          log.warn({ err }, 'lease not extended'),
        );
      },
      Math.max(1000, Math.floor(this.options.leaseMs / 3)),
    );
    heartbeat.unref?.();
    const started = Date.now();
    let failure: { err: unknown } | null = null;
    try {
      await definition.run({ deps: this.deps, job, log, signal: this.abort.signal });
    } catch (err) {
      failure = { err };
    } finally {
      clearInterval(heartbeat);
    }
    if (!failure) {
      try {
        await completeJob(this.deps.db, job, this.id, isoNow(this.deps.clock));
        log.info({ ms: Date.now() - started }, 'job done');
      } catch (err) {
        log.error({ err }, 'job done, but the worker could not record it; it is left to its lease');
      }
      return;
    }
    const { err } = failure;
    const message = errorText(err);
    if (err instanceof RetryLater) {
      const at = new Date(this.deps.clock.now() + err.delayMs).toISOString();
      if (await this.recordFailure(job, log, message, at, false))
        log.info({ delayMs: err.delayMs, reason: message }, 'job will run again later');
      return;
    }
    const permanent = err instanceof PermanentFailure;
    const delay = (definition.backoffMs ?? exponentialBackoff)(job.attempt);
    const retryAt = permanent ? null : new Date(this.deps.clock.now() + delay).toISOString();
    const outcome = await this.recordFailure(job, log, message, retryAt);
    if (outcome === 'dead') log.error({ err }, 'job failed for the last time; it is dead');
    else if (outcome === 'retry')
      log.warn({ err, retryInMs: delay }, 'job failed; it will be retried');
  }

  /**
   * Records a failed attempt (failJob). When the database refuses the error
   * text, a plain message is recorded instead, so the job still runs again or
   * ends dead after its attempts; when nothing can be recorded, it is logged
   * and null returned.
   */
  private async recordFailure(
    job: ClaimedJob,
    log: Logger,
    message: string,
    retryAt: string | null,
    countsAsAttempt = true,
  ): Promise<'retry' | 'dead' | null> {
    const record = (text: string) =>
      failJob(this.deps.db, job, this.id, text, isoNow(this.deps.clock), retryAt, countsAsAttempt);
    try {
      return await record(message);
    } catch (err) {
      log.error(
        { err, error: message },
        'the worker could not record how the job failed; recording a plain message instead',
      );
    }
    try {
      return await record(UNRECORDED_ERROR);
    } catch (err) {
      log.error(
        { err, error: message },
        'the worker could not record how the job ended; it is left to its lease',
      );
      return null;
    }
  }
}
