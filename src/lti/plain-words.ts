import type { ReconcileState } from '../reconcile/report.js';
/**
 * States and errors of pulls, sends and grades as a teacher reads them:
 * what happened and what to do next. The codes and raw messages stay for the
 * "Technical detail" disclosures.
 */

export interface Worded {
  words: string;
  next: string;
}

/** Why a pull from the LMS failed, from its error message. */
export function pullFailure(error: string | null): Worded {
  const e = error ?? '';
  if (/token endpoint refused/i.test(e))
    return {
      words: 'The LMS did not give gradebridge access to this course’s grades.',
      next: 'Ask your LMS administrator to check gradebridge’s registration, then pull again.',
    };
  if (/\b(401|403)\b/.test(e))
    return {
      words:
        'The LMS refused gradebridge’s access to this course: the tool may have been removed from the course, or its access withdrawn.',
      next: 'Launch gradebridge again from the course and pull again; if it keeps failing, ask your LMS administrator.',
    };
  if (/\b404\b/.test(e))
    return {
      words: 'The LMS no longer knows this course’s roster or grade service.',
      next: 'Launch gradebridge again from the course, then pull again.',
    };
  if (/\b5\d\d\b|ECONN|ETIMEDOUT|timed? ?out|socket|network|fetch failed/i.test(e))
    return {
      words: 'The LMS could not be reached, or had a problem of its own.',
      next: 'Try again in a few minutes.',
    };
  return {
    words: 'The pull did not finish.',
    next: 'Try again; if it keeps failing, give your administrator the technical detail below.',
  };
}

/** Why the SIS did not take a grade, from the code and message Data Sync or gradebridge recorded. */
export function syncFailure(code: string | null, message: string | null): string {
  switch (code) {
    case 'student_not_enrolled':
      return 'The SIS has no enrollment for this learner in this course.';
    case 'producer_failure':
      return 'gradebridge could not finish sending it; it goes again with the next send.';
    case 'producer_error':
      return /no final grade column/i.test(message ?? '')
        ? 'The course has no final grade column.'
        : 'Data Sync asked for something gradebridge cannot answer.';
    default:
      return message
        ? `The SIS did not take it: “${message.length > 160 ? `${message.slice(0, 159)}…` : message}”`
        : 'The SIS did not take it.';
  }
}

/** What to do when an exchange (a send of final grades) ended without its data. */
export function exchangeFailure(code: string | null, message: string | null): Worded {
  const m = message ?? '';
  if (/no final grade column/i.test(m))
    return {
      words: 'No final grade column yet.',
      next: 'Choose one on the course page, then send again.',
    };
  if (code === 'producer_failure' && /gave up after/i.test(m))
    return {
      words: 'Data Sync could not be reached, or kept refusing the grades.',
      next: 'Send again later; if it fails again, give your administrator the technical detail.',
    };
  return {
    words: 'The final grades were not sent.',
    next: 'Send again; if it fails again, give your administrator the technical detail.',
  };
}

/** An exchange's state in a few words, with how it reads (completed, failed…). */
export function exchangeState(state: string): { words: string; tone: 'ok' | 'bad' | 'info' } {
  switch (state) {
    case 'completed':
      return { words: 'completed', tone: 'ok' };
    case 'failed':
      return { words: 'failed', tone: 'bad' };
    case 'refused':
      return { words: 'refused', tone: 'bad' };
    case 'sending':
      return { words: 'being sent', tone: 'info' };
    case 'queued':
      return { words: 'waiting to be sent', tone: 'info' };
    default:
      return { words: state, tone: 'info' };
  }
}

/** Where a grade came from, for its history page. */
export function gradeSource(source: string): string {
  switch (source) {
    case 'ags':
      return 'from the LMS';
    case 'journey':
      return 'from the SIS';
    case 'teacher':
      return 'entered in gradebridge';
    case 'calculation':
      return 'calculated by gradebridge';
    case 'webhook':
      return 'from a grade webhook';
    case 'live_event':
      return 'from the LMS (live event)';
    default:
      return source;
  }
}

/** Who gave a grade, for its history page: the grader's name, else why there is none. */
export function gradeGrader(name: string | null, source: string): string {
  if (name) return name;
  switch (source) {
    case 'calculation':
      return 'calculated from other columns';
    case 'ags':
      return 'not named by the LMS';
    case 'journey':
      return 'not named by the SIS';
    default:
      return 'not named';
  }
}

const n = (v: unknown) => (typeof v === 'number' && Number.isFinite(v) ? v : 0);
const plural = (k: number, one: string, many = `${one}s`) =>
  `${k.toLocaleString('en-US')} ${k === 1 ? one : many}`;

/** What a pull read and changed, from its recorded summary. */
export function pullSummary(summary: Record<string, unknown> | null): string {
  if (!summary) return '';
  const parts = [
    `${plural(n(summary.members), 'person', 'people')}, ${plural(n(summary.lineItems), 'line item')} and ${plural(n(summary.results), 'result')} read`,
    n(summary.versions) === 0
      ? 'no grade changed'
      : `${plural(n(summary.versions), 'grade')} changed`,
  ];
  if (n(summary.columnsCreated)) parts.push(`${plural(n(summary.columnsCreated), 'new column')}`);
  if (n(summary.usersCreated))
    parts.push(`${plural(n(summary.usersCreated), 'new person', 'new people')}`);
  return parts.join('; ');
}

/** Each state in words a teacher reads, and what to do about it. */
export const RECONCILE_WORDS: Record<
  ReconcileState,
  { words: string; tone: string; next: string }
> = {
  in_sync: { words: 'The same everywhere', tone: 'ok', next: 'Nothing to do.' },
  lms_differs: {
    words: 'The LMS holds another value',
    tone: 'bad',
    next: 'Send gradebridge’s grade to the LMS again, or take the LMS’s value if it is the right one.',
  },
  sis_differs: {
    words: 'The SIS holds another value',
    tone: 'bad',
    next: 'Send the grade to the SIS again: it goes with the next exchange.',
  },
  waiting: {
    words: 'Waiting to be sent, or for an answer',
    tone: 'muted',
    next: 'Nothing to do yet: it goes, or is answered, soon.',
  },
  failed: {
    words: 'Not taken',
    tone: 'bad',
    next: 'Fix what the reason says, then send it again.',
  },
  unknown: {
    words: 'No answer yet',
    tone: 'warn',
    next: 'The grade was sent but nobody said whether it arrived: pull from the LMS, or send it again.',
  },
};
