import { dropUndefined } from './objects.js';
import { compareTimestamps, isTimestamp, parseTimestamp, type TimestampKey } from './timestamps.js';
import type {
  ContextInput,
  ContextRecord,
  LineItem,
  MemberInput,
  MemberRecord,
  ResourceLinkRecord,
  Result,
  ResultInput,
  Score,
  ScoreRecord,
} from './types.js';
import type { EmulatorUrls } from './urls.js';
import { COURSE_OFFERING, ROLE } from './vocabulary.js';

export type LineItemFields = Omit<LineItem, 'id' | 'contextId'>;

const copy = <T>(value: T): T => structuredClone(value);

/** Courses, their members, resource links and gradebook, kept in memory. */
export class CourseStore {
  private readonly contexts = new Map<string, ContextRecord>();
  private readonly members = new Map<string, Map<string, MemberRecord>>();
  /** Resource link ids are unique across the platform, as in real LMSs. */
  private readonly links = new Map<string, ResourceLinkRecord>();
  private readonly items = new Map<string, LineItem>();
  private readonly results = new Map<string, Map<string, Result>>();
  private readonly lastScoreAt = new Map<string, Map<string, TimestampKey>>();
  /** Score history outlives its line item, for assertions after a DELETE. */
  private readonly scoreLog = new Map<string, ScoreRecord[]>();
  private nextItemKey = 1;
  /** Tools removed from a context (every registered tool is available everywhere otherwise). */
  private readonly removedTools = new Map<string, Set<string>>();

  constructor(private readonly urls: EmulatorUrls) {}

  // --- tools in contexts ---

  /** Makes a tool unavailable in a context (an administrator removed it from the course), or available again. */
  setToolAvailable(contextId: string, clientId: string, available: boolean): void {
    this.requireContext(contextId);
    const removed = this.removedTools.get(contextId) ?? new Set<string>();
    if (available) removed.delete(clientId);
    else removed.add(clientId);
    this.removedTools.set(contextId, removed);
  }

  toolAvailable(contextId: string, clientId: string): boolean {
    return !this.removedTools.get(contextId)?.has(clientId);
  }

  // --- contexts and members ---

  createContext(input: ContextInput): ContextRecord {
    if (!input.id) throw new Error('A context needs an id.');
    if (this.contexts.has(input.id)) throw new Error(`Context "${input.id}" already exists.`);
    const context = dropUndefined({
      id: input.id,
      label: input.label,
      title: input.title,
      // Canvas and Moodle send CourseOffering for courses; so does the emulator by default.
      type: input.type ? [...input.type] : [COURSE_OFFERING],
      lisCourseSourcedId: input.lisCourseSourcedId,
    });
    this.contexts.set(context.id, context);
    this.members.set(context.id, new Map());
    return copy(context);
  }

  context(contextId: string): ContextRecord | undefined {
    return this.contexts.get(contextId);
  }

  requireContext(contextId: string): ContextRecord {
    const context = this.contexts.get(contextId);
    if (!context) throw new Error(`Unknown context "${contextId}".`);
    return context;
  }

  contextList(): ContextRecord[] {
    return [...this.contexts.values()];
  }

  /** Adds a member, or replaces the membership when the user is already one. */
  addMember(contextId: string, input: MemberInput): MemberRecord {
    this.requireContext(contextId);
    if (!input.userId) throw new Error('A member needs a userId.');
    if (!Array.isArray(input.roles)) throw new Error('A member needs a roles array.');
    const mentor = input.roles.some(
      (r) => r === ROLE.mentor || r.startsWith(ROLE.mentor.replace('#', '/') + '#'),
    );
    if (input.mentees !== undefined && !mentor) {
      throw new Error('Only a mentor has mentees.');
    }
    const member = dropUndefined({
      contextId,
      userId: input.userId,
      name: input.name,
      givenName: input.givenName,
      familyName: input.familyName,
      email: input.email,
      roles: [...input.roles],
      lisPersonSourcedId: input.lisPersonSourcedId,
      status: input.status ?? 'Active',
      mentees: input.mentees ? [...input.mentees] : undefined,
    });
    this.members.get(contextId)!.set(member.userId, member);
    return copy(member);
  }

  member(contextId: string, userId: string): MemberRecord | undefined {
    return this.members.get(contextId)?.get(userId);
  }

  membersOf(contextId: string): MemberRecord[] {
    return [...(this.members.get(contextId)?.values() ?? [])];
  }

  // --- resource links ---

  addResourceLink(link: ResourceLinkRecord): ResourceLinkRecord {
    this.requireContext(link.contextId);
    if (!link.id) throw new Error('A resource link needs an id.');
    if (this.links.has(link.id)) throw new Error(`Resource link "${link.id}" already exists.`);
    const record = dropUndefined({ ...link, custom: link.custom ? { ...link.custom } : undefined });
    this.links.set(record.id, record);
    return copy(record);
  }

  resourceLink(id: string): ResourceLinkRecord | undefined {
    return this.links.get(id);
  }

  resourceLinksOf(contextId: string): ResourceLinkRecord[] {
    return [...this.links.values()].filter((l) => l.contextId === contextId);
  }

  // --- line items ---

  addLineItem(contextId: string, fields: LineItemFields): LineItem {
    this.requireContext(contextId);
    this.checkLineItem(contextId, fields);
    const id = this.urls.lineItem(contextId, String(this.nextItemKey++));
    const item = dropUndefined({ id, contextId, ...fields });
    this.items.set(id, item);
    this.results.set(id, new Map());
    this.lastScoreAt.set(id, new Map());
    this.scoreLog.set(id, []);
    return copy(item);
  }

  lineItem(id: string): LineItem | undefined {
    return this.items.get(id);
  }

  requireLineItem(id: string): LineItem {
    const item = this.items.get(id);
    if (!item) throw new Error(`Unknown line item "${id}".`);
    return item;
  }

  lineItemsOf(contextId: string): LineItem[] {
    return [...this.items.values()].filter((i) => i.contextId === contextId);
  }

  updateLineItem(id: string, fields: LineItemFields): LineItem {
    const current = this.requireLineItem(id);
    this.checkLineItem(current.contextId, fields);
    const item = dropUndefined({ id, contextId: current.contextId, ...fields });
    this.items.set(id, item);
    return copy(item);
  }

  deleteLineItem(id: string): void {
    this.items.delete(id);
    this.results.delete(id);
    this.lastScoreAt.delete(id);
  }

  private checkLineItem(contextId: string, fields: LineItemFields): void {
    if (typeof fields.label !== 'string' || fields.label.trim() === '') {
      throw new Error('A line item needs a non-empty label.');
    }
    if (!(typeof fields.scoreMaximum === 'number' && fields.scoreMaximum > 0)) {
      throw new Error('A line item needs a scoreMaximum greater than 0.');
    }
    for (const name of ['startDateTime', 'endDateTime'] as const) {
      const value = fields[name];
      if (value !== undefined && !isTimestamp(value)) {
        throw new Error(`${name} must be an ISO 8601 date-time with an offset.`);
      }
    }
    if (fields.resourceLinkId !== undefined) {
      const link = this.links.get(fields.resourceLinkId);
      if (!link || link.contextId !== contextId) {
        throw new Error(`No resource link "${fields.resourceLinkId}" in context "${contextId}".`);
      }
    }
  }

  // --- results and scores ---

  resultsOf(lineItemId: string): Result[] {
    if (!this.items.has(lineItemId) && !this.scoreLog.has(lineItemId)) {
      throw new Error(`Unknown line item "${lineItemId}".`);
    }
    return [...(this.results.get(lineItemId)?.values() ?? [])];
  }

  /** What an instructor does in the gradebook. */
  setResult(lineItemId: string, userId: string, input: ResultInput): Result {
    const item = this.requireLineItem(lineItemId);
    if (!this.member(item.contextId, userId)) {
      throw new Error(`User "${userId}" is not a member of context "${item.contextId}".`);
    }
    if (input.timestamp !== undefined && !isTimestamp(input.timestamp)) {
      throw new Error('timestamp must be an ISO 8601 date-time with an offset.');
    }
    const result = dropUndefined({
      id: this.urls.result(lineItemId, userId),
      scoreOf: lineItemId,
      userId,
      resultScore: input.resultScore,
      // A result is on the line item's scale unless told otherwise (AGS would assume 1).
      resultMaximum:
        input.resultMaximum ?? (input.resultScore !== undefined ? item.scoreMaximum : undefined),
      comment: input.comment,
      timestamp: input.timestamp ?? new Date().toISOString(),
    });
    this.results.get(lineItemId)!.set(userId, result);
    return copy(result);
  }

  /**
   * Records a validated score. One not newer than the last accepted score of
   * the same user and line item changes nothing (AGS: the platform must not
   * update a result with an older score). Accepted scores set the result's
   * progress; only FullyGraded ones set its score, maximum and comment, taken
   * as the tool sent them (no rescaling to the line item's scoreMaximum).
   */
  applyScore(lineItemId: string, clientId: string, score: Score): ScoreRecord {
    const at = parseTimestamp(score.timestamp);
    if (!at) throw new Error(`Invalid score timestamp "${score.timestamp}".`);
    const last = this.lastScoreAt.get(lineItemId)!;
    const previous = last.get(score.userId);
    const ignored = previous !== undefined && compareTimestamps(at, previous) <= 0;
    const record: ScoreRecord = {
      lineItemId,
      clientId,
      receivedAt: new Date().toISOString(),
      score: copy(score),
      ignored,
    };
    this.scoreLog.get(lineItemId)!.push(record);
    if (ignored) return copy(record);
    last.set(score.userId, at);
    const results = this.results.get(lineItemId)!;
    const result: Result = {
      ...(results.get(score.userId) ?? {
        id: this.urls.result(lineItemId, score.userId),
        scoreOf: lineItemId,
        userId: score.userId,
      }),
      activityProgress: score.activityProgress,
      gradingProgress: score.gradingProgress,
      timestamp: score.timestamp,
    };
    if (score.gradingProgress === 'FullyGraded') {
      // A FullyGraded score without scoreGiven clears the score (AGS).
      delete result.resultScore;
      delete result.resultMaximum;
      delete result.comment;
      Object.assign(
        result,
        dropUndefined({
          resultScore: score.scoreGiven,
          resultMaximum: score.scoreGiven !== undefined ? score.scoreMaximum : undefined,
          comment: score.comment,
        }),
      );
    }
    results.set(score.userId, result);
    return copy(record);
  }

  scoresOf(lineItemId: string): ScoreRecord[] {
    const log = this.scoreLog.get(lineItemId);
    if (!log) throw new Error(`Unknown line item "${lineItemId}".`);
    return copy(log);
  }

  lineItemsBoundTo(resourceLinkId: string): LineItem[] {
    return [...this.items.values()].filter((i) => i.resourceLinkId === resourceLinkId);
  }
}
