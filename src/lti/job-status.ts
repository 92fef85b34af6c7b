import type { AppDeps } from '../deps.js';
import { toIso } from '../db/time.js';
import { isApprover } from '../grades/final-grade-workflow.js';
import { parseJson } from '../db/json.js';
import { NotFoundError } from '../http/errors.js';
import type { PageSession } from './final-grade-service.js';
import { timeWords, type Outcome } from './pages.js';
import { exchangeFailure, pullFailure, pullSummary } from './plain-words.js';

/**
 * Where a job a staff action queued stands, in plain words, read from the
 * job's row and what it did (the context's last pull, the exchange a send
 * became): the course page shows it on load and its script polls it
 * (`GET app/jobs/:id`) until it ends. A session sees only the jobs of its own
 * course (and an approver the sends of its tenant).
 */

/** A job that has waited this long for a worker is worth a word to the teacher. */
const SLOW_START_MS = 60_000;

interface JobRow {
  id: number;
  name: string;
  tenant_id: number | null;
  payload: string;
  state: string;
  attempts: number;
  max_attempts: number;
  run_at: string | Date;
  last_error: string | null;
  created_at: string | Date;
}

async function visibleJob(deps: AppDeps, s: PageSession, jobId: number): Promise<JobRow> {
  const job = (await deps
    .db('jobs')
    .where({ id: jobId, tenant_id: s.tenantId })
    .first(
      'id',
      'name',
      'tenant_id',
      'payload',
      'state',
      'attempts',
      'max_attempts',
      'run_at',
      'last_error',
      'created_at',
    )) as JobRow | undefined;
  const payload = parseJson<Record<string, unknown>>(job?.payload) ?? {};
  const mine =
    !!job &&
    ((job.name === 'lti.pull' && s.staff && payload.ltiContextId === s.ltiContextId) ||
      (job.name === 'datasync.request' &&
        ((s.staff && payload.courseId === s.courseId) ||
          (await isApprover(deps.db, s.tenantId, s.userId)))));
  if (!job || !mine) throw new NotFoundError('There is no such job for this course.');
  return job;
}

function technical(job: JobRow, extra: Array<[string, string]> = []): Array<[string, string]> {
  return [
    ['Job', `${job.id} (${job.name})`],
    ['State', job.state],
    ['Attempts', `${job.attempts} of ${job.max_attempts}`],
    ...(job.last_error ? ([['Last error', job.last_error]] as Array<[string, string]>) : []),
    ...extra,
  ];
}

/** The words every job shares while it waits, retries or runs; null once it ended. */
function waiting(
  deps: AppDeps,
  job: JobRow,
  zone: string,
  words: { queued: string; running: string; retry: string },
): Outcome | null {
  const base = { jobId: job.id, done: false, detail: technical(job) } as const;
  if (job.state === 'running') return { ...base, tone: 'info', title: words.running };
  if (job.state !== 'queued') return null;
  const runAt = toIso(job.run_at)!;
  if (job.attempts > 0)
    return {
      ...base,
      tone: 'warn',
      title: words.retry,
      text: `It is tried again at ${timeWords(runAt, zone)}.`,
    };
  const waited = deps.clock.now() - Date.parse(toIso(job.created_at)!);
  return {
    ...base,
    tone: 'info',
    title: words.queued,
    text: 'It starts as soon as a worker is free.',
    next:
      waited > SLOW_START_MS
        ? `It has waited ${Math.round(waited / 60_000)} minutes: if it does not start soon, the job worker may not be running; tell your administrator.`
        : null,
  };
}

async function pullOutcome(deps: AppDeps, s: PageSession, job: JobRow, zone: string) {
  const pending = waiting(deps, job, zone, {
    queued: 'A pull from the LMS is queued.',
    running: 'Pulling grades and roster from the LMS…',
    retry: 'The pull from the LMS failed once.',
  });
  if (pending) return pending;
  if (job.state === 'dead') {
    const f = pullFailure(job.last_error);
    return {
      tone: 'bad',
      done: true,
      title: 'The pull from the LMS failed.',
      text: f.words,
      next: f.next,
      jobId: job.id,
      detail: technical(job),
      refresh: true,
    } satisfies Outcome;
  }
  const context = await deps
    .db('lti_contexts')
    .where({ id: s.ltiContextId })
    .first('last_pull_summary', 'last_pull_at');
  const summary = pullSummary(parseJson<Record<string, unknown>>(context?.last_pull_summary));
  return {
    tone: 'ok',
    done: true,
    title: 'Pulled from the LMS.',
    text: summary ? `${summary[0]!.toUpperCase()}${summary.slice(1)}.` : null,
    next: 'The grades on this page are up to date.',
    jobId: job.id,
    detail: technical(job),
    refresh: true,
  } satisfies Outcome;
}

async function sendOutcome(deps: AppDeps, job: JobRow, zone: string): Promise<Outcome> {
  const pending = waiting(deps, job, zone, {
    queued: 'Final grades will be sent to the SIS: waiting to start.',
    running: 'Asking Data Sync for an exchange of this course’s final grades…',
    retry: 'Asking Data Sync for an exchange failed once.',
  });
  if (pending) return pending;
  if (job.state === 'dead')
    return {
      tone: 'bad',
      done: true,
      title: 'The final grades could not be sent.',
      text: 'Data Sync could not be reached, or refused to start an exchange.',
      next: 'Send again later; if it fails again, give your administrator the technical detail.',
      jobId: job.id,
      detail: technical(job),
      refresh: true,
    };
  const payload = parseJson<Record<string, unknown>>(job.payload) ?? {};
  const exchange =
    typeof payload.remoteId === 'string'
      ? await deps
          .db('exchanges')
          .where({ connection_id: payload.connectionId as number, remote_id: payload.remoteId })
          .first(
            'id',
            'remote_id',
            'state',
            'chunks_total',
            'chunks_sent',
            'items_sent',
            'error_code',
            'error_message',
          )
      : undefined;
  if (!exchange)
    return {
      tone: 'ok',
      done: true,
      title: 'Data Sync had already answered this request.',
      next: 'The marks below show where each grade stands.',
      jobId: job.id,
      detail: technical(job),
      refresh: true,
    };
  const detail = technical(job, [
    ['Exchange', String(exchange.remote_id)],
    ['Exchange state', String(exchange.state)],
    ...(exchange.error_code
      ? ([['Error', `${exchange.error_code}: ${exchange.error_message ?? ''}`]] as Array<
          [string, string]
        >)
      : []),
  ]);
  const base = { jobId: job.id, detail };
  switch (exchange.state) {
    case 'queued':
      return {
        ...base,
        tone: 'info',
        done: false,
        title: 'Data Sync asked for the final grades: sending starts shortly.',
      };
    case 'sending':
      return {
        ...base,
        tone: 'info',
        done: false,
        title: 'Sending final grades to the SIS…',
        text:
          exchange.chunks_total !== null
            ? `${exchange.chunks_sent} of ${exchange.chunks_total} parts sent.`
            : null,
      };
    case 'completed': {
      const refused = await deps
        .db('exchange_items')
        .where({ exchange_id: exchange.id, status: 'failed' })
        .whereIn('kind', ['score', 'summary'])
        .count({ n: '*' })
        .first();
      const k = Number(refused?.n ?? 0);
      const sent = Number(exchange.items_sent);
      return k === 0
        ? {
            ...base,
            tone: 'ok',
            done: true,
            refresh: true,
            title: 'Sent.',
            text:
              sent === 0
                ? 'Nothing had changed since the last send, so nothing new went out.'
                : `${sent} final grade${sent === 1 ? '' : 's'} reached the SIS.`,
          }
        : {
            ...base,
            tone: 'warn',
            done: true,
            refresh: true,
            title: `Sent, but the SIS did not take ${k} of them.`,
            next: 'Their ✗ marks in the grades below say why; fix what they say, then send again.',
          };
    }
    default: {
      const f = exchangeFailure(exchange.error_code, exchange.error_message);
      return {
        ...base,
        tone: 'bad',
        done: true,
        refresh: true,
        title: 'The final grades were not sent.',
        text: f.words === 'The final grades were not sent.' ? null : f.words,
        next: f.next,
      };
    }
  }
}

/** Where a job of this course stands, in plain words. */
export async function jobOutcome(
  deps: AppDeps,
  s: PageSession,
  jobId: number,
  zone: string,
): Promise<Outcome> {
  const job = await visibleJob(deps, s, jobId);
  return job.name === 'lti.pull' ? pullOutcome(deps, s, job, zone) : sendOutcome(deps, job, zone);
}

/** The same, or null when the job is not this session's (a stale or foreign `?job=` link). */
export async function jobOutcomeIfVisible(
  deps: AppDeps,
  s: PageSession,
  jobId: number | undefined,
  zone: string,
): Promise<Outcome | null> {
  if (!jobId) return null;
  try {
    return await jobOutcome(deps, s, jobId, zone);
  } catch (err) {
    if (err instanceof NotFoundError) return null;
    throw err;
  }
}
