import { gzipSync } from 'node:zlib';
import { brief, idsOf, keyOf } from './refs.js';
import type {
  AssignmentData,
  ChunkRecord,
  ConsumerLogEntry,
  DetailsArtifact,
  EntityRef,
  ScoreData,
  SummaryData,
  WithSyncStatus,
} from './types.js';

/** Person ids (a `$sys.id` or a source id) the SIS refuses, with the error code it gives. */
export type PersonFailures = ReadonlyMap<string, string>;

type DetailsAssignment = DetailsArtifact['assignments'][number];

function failureOf(person: EntityRef, failures: PersonFailures): string | null {
  for (const id of idsOf(person)) {
    const code = failures.get(id);
    if (code !== undefined) return code;
  }
  return null;
}

function withStatus<T extends { sync_status?: unknown; error_code?: unknown }>(
  item: T,
  errorCode: string | null,
): WithSyncStatus<T> {
  const { sync_status: _s, error_code: _e, ...rest } = item;
  return {
    ...(rest as Omit<T, 'sync_status' | 'error_code'>),
    sync_status: errorCode === null ? 'synced' : 'failed',
    error_code: errorCode,
  };
}

const summaryKey = (s: SummaryData): string | null => {
  const person = keyOf(s.$person.$sys);
  if (person === null) return null;
  return [person, keyOf(s.$section?.$sys), s.summary_type ?? '', s.score_type ?? ''].join('|');
};

/**
 * What the SIS ends up holding: the assignments, scores and summaries of every
 * chunk, one entry per assignment (by `$sys`), per score (assignment and
 * person) and per summary (person, section, summary and score type), the
 * latest winning. Items without ids are kept as they come.
 */
function merge(chunks: readonly ChunkRecord[]): {
  assignments: Array<{ assignment: Omit<AssignmentData, 'scores'>; scores: ScoreData[] }>;
  summaries: SummaryData[];
} {
  const assignments = new Map<
    string,
    { assignment: Omit<AssignmentData, 'scores'>; scores: Map<string, ScoreData> }
  >();
  const summaries = new Map<string, SummaryData>();
  let anonymous = 0;
  for (const chunk of chunks) {
    for (const { scores, ...assignment } of chunk.body.assignments ?? []) {
      const key = keyOf(assignment.$sys) ?? `#${anonymous++}`;
      const entry = assignments.get(key) ?? { assignment, scores: new Map<string, ScoreData>() };
      entry.assignment = { ...entry.assignment, ...assignment };
      for (const score of scores ?? []) {
        entry.scores.set(keyOf(score.$person.$sys) ?? `#${anonymous++}`, score);
      }
      assignments.set(key, entry);
    }
    for (const summary of chunk.body.summaries ?? []) {
      summaries.set(summaryKey(summary) ?? `#${anonymous++}`, summary);
    }
  }
  return {
    assignments: [...assignments.values()].map((e) => ({
      assignment: e.assignment,
      scores: [...e.scores.values()],
    })),
    summaries: [...summaries.values()],
  };
}

export interface Artifacts {
  details: DetailsArtifact;
  /** Null when nothing was sent to the SIS. */
  consumerLogs: ConsumerLogEntry[] | null;
}

/**
 * The artifacts of a completed exchange: the details (every assignment, score
 * and summary with its sync_status: `failed` with the configured error code
 * for persons set to fail, `synced` otherwise) and the consumer logs (one line
 * per item "sent to the SIS").
 */
export function buildArtifacts(
  exchangeId: string,
  chunks: readonly ChunkRecord[],
  failures: PersonFailures,
  consumerId: string | null,
  now = new Date().toISOString(),
): Artifacts {
  const merged = merge(chunks);
  const logs: ConsumerLogEntry[] = [];
  const log = (entry: Omit<ConsumerLogEntry, 'timestamp' | 'consumer_id'>) =>
    logs.push({ timestamp: now, consumer_id: consumerId, ...entry });

  /**
   * Logs a score or summary as sent for its person (refused for a person set
   * to fail), and answers it with its sync status. `sent` names it in the
   * log of a success, `refused` in that of a failure.
   */
  const sendForPerson = <T extends ScoreData | SummaryData>(
    item: T,
    action: 'upsert_score' | 'upsert_summary',
    assignment: ConsumerLogEntry['assignment'],
    { sent, refused }: { sent: string; refused: string },
  ): WithSyncStatus<T> => {
    const errorCode = failureOf(item.$person, failures);
    const person = brief(item.$person);
    const who = person?.source_id ?? person?.id ?? '?';
    log({
      level: errorCode === null ? 'info' : 'error',
      action,
      assignment,
      person,
      score: item.score ?? null,
      grade: item.grade ?? null,
      result: errorCode === null ? 'synced' : 'failed',
      error_code: errorCode,
      message:
        errorCode === null
          ? `Sent the ${sent} of ${who} to the SIS.`
          : `The SIS refused the ${refused} of ${who}: ${errorCode}.`,
    });
    return withStatus(item, errorCode);
  };

  const assignments: DetailsAssignment[] = merged.assignments.map(({ assignment, scores }) => {
    const target = brief(assignment);
    log({
      level: 'info',
      action: 'upsert_assignment',
      assignment: target,
      person: null,
      score: null,
      grade: null,
      result: 'synced',
      error_code: null,
      message: `Sent assignment "${target?.name ?? target?.id ?? '?'}" to the SIS.`,
    });
    return {
      ...withStatus(assignment, null),
      scores: scores.map((score) =>
        sendForPerson(score, 'upsert_score', target, { sent: 'score', refused: 'score' }),
      ),
    };
  });

  const summaries = merged.summaries.map((summary) =>
    sendForPerson(summary, 'upsert_summary', null, {
      sent: `${summary.summary_type ? `${summary.summary_type} ` : ''}summary`,
      refused: 'summary',
    }),
  );

  return {
    details: { exchange_id: exchangeId, generated_at: now, assignments, summaries },
    consumerLogs: logs.length > 0 ? logs : null,
  };
}

/** An artifact as the API serves it: the gzipped JSON (a .json.gz file). */
export const gzipJson = (value: unknown): Buffer => gzipSync(JSON.stringify(value));
