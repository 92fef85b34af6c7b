import { z } from 'zod';

/**
 * Canvas Live Events in the IMS Caliper 1.1 format, as Canvas documents them
 * (canvas-lms doc/api/data_services/json/caliper/event-types/grade_change.json,
 * caliper/actor_extensions.json): an envelope `{sensor, sendTime, dataVersion,
 * data: [event]}`; a grade change is a `GradeEvent` with action `Graded`
 * whose `object` is the `Attempt` (its assignee and assignable) and whose
 * `generated` is the `Score`. Canvas's own ids are the last part of each
 * `urn:instructure:canvas:<kind>:<id>` and the `entity_id` of the
 * `com.instructure.canvas` extensions: the same ids its own format carries.
 */

const CANVAS = 'com.instructure.canvas';

/** The `com.instructure.canvas` extension of an entity, when it has one. */
const extensions = z
  .object({ [CANVAS]: z.record(z.string(), z.unknown()).optional() })
  .loose()
  .optional();

const entity = z
  .object({
    id: z.string().min(1).max(2048),
    type: z.string().max(128).optional(),
    name: z.string().max(333).nullable().optional(),
    extensions,
  })
  .loose();

/** One Caliper event: what gradebridge reads of it is checked, the rest kept as sent. */
export const caliperEvent = z
  .object({
    '@context': z.string().optional(),
    id: z.string().min(1).max(255),
    type: z.string().min(1).max(128),
    action: z.string().max(128).optional(),
    eventTime: z.iso.datetime({ offset: true }).optional(),
    actor: entity.optional(),
    object: entity
      .extend({
        assignee: entity.optional(),
        assignable: entity.optional(),
      })
      .loose()
      .optional(),
    generated: entity
      .extend({
        scoreGiven: z.number().finite().nullable().optional(),
        maxScore: z.number().finite().nullable().optional(),
        scoredBy: z.string().max(2048).nullable().optional(),
      })
      .loose()
      .optional(),
    group: entity.optional(),
    extensions,
  })
  .loose();

export type CaliperEvent = z.infer<typeof caliperEvent>;

/** The envelope Canvas posts (signed, as the JWT's payload). */
export const caliperEnvelope = z.object({
  sensor: z.string().max(2048).optional(),
  sendTime: z.string().max(64).optional(),
  dataVersion: z.string().max(2048).optional(),
  data: z.array(caliperEvent).min(1).max(100),
});

/** Whether a verified payload is a Caliper envelope rather than Canvas's own `{metadata, body}`. */
export function isCaliperEnvelope(payload: unknown): boolean {
  return (
    typeof payload === 'object' &&
    payload !== null &&
    Array.isArray((payload as { data?: unknown }).data) &&
    !('metadata' in payload)
  );
}

const canvasExt = (e: { extensions?: Record<string, unknown> | undefined } | undefined) =>
  (e?.extensions?.[CANVAS] ?? {}) as Record<string, unknown>;

/** Canvas's id of an entity: its extension's entity_id, else the last part of its urn. */
function canvasId(e: { id: string; extensions?: Record<string, unknown> } | undefined) {
  if (!e) return undefined;
  const id = canvasExt(e).entity_id;
  if (typeof id === 'string' || typeof id === 'number') return String(id);
  const urn = /^urn:instructure:canvas:[a-z_]+:(.+)$/i.exec(e.id);
  return urn ? urn[1] : undefined;
}

/** The root account of a Caliper event (its actor's extension): the sender must be that school's. */
export function caliperRootAccount(e: CaliperEvent): string | undefined {
  const uuid = canvasExt(e.actor).root_account_uuid;
  return typeof uuid === 'string' ? uuid : undefined;
}

/** The Canvas event name a Caliper event stands for (`grade_change` for a graded GradeEvent). */
export function caliperEventName(e: CaliperEvent): string {
  return e.type === 'GradeEvent' && e.action === 'Graded'
    ? 'grade_change'
    : `${e.type}${e.action ? `:${e.action}` : ''}`;
}

/**
 * The same grade change in Canvas's own format, so both formats take one
 * path. Caliper carries no course SIS id: the course is found by Canvas's
 * course id, learnt from an earlier event in Canvas's format (which carries
 * both), and the assignment by Canvas's id or its name when given.
 */
export function fromCaliper(e: CaliperEvent): {
  metadata: Record<string, unknown>;
  body: Record<string, unknown>;
} {
  const object = e.object;
  const score = e.generated;
  const grade = canvasExt(score).grade ?? canvasExt(object).grade;
  const excused = canvasExt(score).excused ?? canvasExt(object).excused;
  const groupExt = canvasExt(e.group);
  const contextType =
    typeof groupExt.context_type === 'string'
      ? groupExt.context_type
      : e.group?.type === 'CourseOffering'
        ? 'Course'
        : e.group?.type;
  return {
    metadata: {
      event_name: caliperEventName(e),
      event_id: e.id,
      ...(e.eventTime ? { event_time: e.eventTime } : {}),
      ...(contextType ? { context_type: contextType } : {}),
      ...(canvasId(e.group) ? { context_id: canvasId(e.group) } : {}),
      ...(caliperRootAccount(e) ? { root_account_uuid: caliperRootAccount(e) } : {}),
    },
    body: {
      submission_id: canvasId(object),
      assignment_id: canvasId(object?.assignable),
      assignment_name: object?.assignable?.name ?? null,
      score: score?.scoreGiven ?? null,
      points_possible: score?.maxScore ?? null,
      grade: grade ?? null,
      ...(typeof excused === 'boolean' ? { excused } : {}),
      student_id: canvasId(object?.assignee),
      student_sis_id: canvasExt(object?.assignee).sis_id ?? null,
      grader_id: score?.scoredBy ? (canvasId({ id: score.scoredBy }) ?? null) : null,
    },
  };
}
