import type { Response } from 'supertest';
import type { TestContext } from './context.js';

export const JOURNEY = '/learn/api/v2/cc/gradejourney';

export type JourneyEndpoint =
  | 'gradeSchemasAPI'
  | 'gradableItemsAPI'
  | 'gradeColumnDeleteAPI'
  | 'externalGradeColumnAPI'
  | 'userMetadataAPI'
  | 'gradeValueAPI';

export interface ItemResult {
  courseId: string;
  name: string;
  status: 'OK' | 'ERROR';
  message: string;
}

/** POSTs a batch and returns the response (expecting 200 unless told otherwise). */
export async function journey(
  ctx: TestContext,
  token: string,
  endpoint: JourneyEndpoint,
  items: unknown,
  expectStatus = 200,
): Promise<Omit<Response, 'body'> & { body: ItemResult[] }> {
  const res = await ctx.http
    .post(`${JOURNEY}/${endpoint}`)
    .set('Authorization', `Bearer ${token}`)
    .set('Content-Type', 'application/json')
    .send(JSON.stringify(items));
  if (res.status !== expectStatus) {
    throw new Error(
      `expected ${expectStatus} from ${endpoint}, got ${res.status}: ${JSON.stringify(res.body)}`,
    );
  }
  return res as Omit<Response, 'body'> & { body: ItemResult[] };
}

/** The statuses of a batch's results, for compact assertions. */
export function statuses(res: { body: ItemResult[] }): string[] {
  return res.body.map((r) => r.status);
}
