import crypto from 'node:crypto';
import type { ExchangeQuery } from './types.js';
import type { QueryType, SummaryType } from './vocabulary.js';

/** The app whose id `courseQuery` puts in `$sys.source_id`. */
export const COURSE_SOURCE_APP = 'sis';

/** A stable uuid (version 5 layout) for a course source id: its Data Sync id in the emulator. */
export function dataSyncIdFor(courseSourceId: string): string {
  const hash = crypto
    .createHash('sha1')
    .update(`datasync-emulator:course:${courseSourceId}`)
    .digest();
  hash[6] = (hash[6]! & 0x0f) | 0x50;
  hash[8] = (hash[8]! & 0x3f) | 0x80;
  const hex = hash.subarray(0, 16).toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

/**
 * The query of an exchange for one course: scope `course` by `id`, the course
 * named by its source id (`name`, and `$sys.source_id.sis`) with a stable
 * `$sys.id`. Summary queries ask for `final` summaries unless told otherwise.
 */
export function courseQuery(
  courseSourceId: string,
  type: QueryType = 'assignment_scores',
  options: { summaryType?: SummaryType; gradedAfter?: string; assignmentIds?: string[] } = {},
): ExchangeQuery {
  return {
    type,
    conditions: [
      {
        scope: 'course',
        scope_by: 'id',
        scope_id: {
          name: courseSourceId,
          $sys: {
            id: dataSyncIdFor(courseSourceId),
            source_id: { [COURSE_SOURCE_APP]: courseSourceId },
          },
        },
        ...(options.gradedAfter ? { graded_after: options.gradedAfter } : {}),
        ...(options.assignmentIds ? { assignment_ids: options.assignmentIds } : {}),
        ...(type === 'summary' ? { summary_type: options.summaryType ?? 'final' } : {}),
      },
    ],
  };
}
