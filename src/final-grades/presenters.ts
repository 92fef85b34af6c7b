import type { FinalGradeStatus, FinalValue, SubmissionSummary } from '../grades/final-grades.js';
import type { FinalGradeEvent } from '../grades/final-grade-workflow.js';

const value = (v: FinalValue | null) => (v ? { score: v.score, grade: v.grade } : null);

/** A submission as the API and the command line show it. */
export function presentSubmission(s: SubmissionSummary | null) {
  if (!s) return null;
  return {
    id: s.id,
    state: s.state,
    learners: s.learners,
    submittedBy: s.submittedBy.name,
    submittedAt: s.submittedAt,
    comment: s.comment,
    decidedBy: s.decidedBy?.name ?? null,
    decidedAt: s.decidedAt,
    decisionComment: s.decisionComment,
  };
}

/** A course's final grade status: per learner their person id, final score and grade, state and flags. */
export function presentStatus(status: FinalGradeStatus) {
  return {
    course: {
      id: status.course.id,
      courseId: status.course.batchUid,
      title: status.course.title,
    },
    approvalMode: status.approvalMode,
    finalColumn: status.finalColumn
      ? {
          id: status.finalColumn.id,
          name: status.finalColumn.name,
          pointsPossible: status.finalColumn.points,
          scale: status.finalColumn.scale,
        }
      : null,
    flags: status.flags,
    send: status.send,
    pending: presentSubmission(status.pending),
    approved: presentSubmission(status.approved),
    rejected: presentSubmission(status.rejected),
    learners: status.learners.map((l) => ({
      userId: l.personId,
      name: l.name,
      score: l.current?.score ?? null,
      grade: l.current?.grade ?? null,
      state: l.state,
      flags: l.flags.map((f) => f.code),
      notes: l.flags.map((f) => f.message),
      blocked: l.blocked,
      approved: value(l.approved),
      outgoing: value(l.outgoing),
      lastSent: l.lastSent ? { ...value(l.lastSent), at: l.lastSent.at } : null,
    })),
  };
}

export function presentEvent(e: FinalGradeEvent) {
  return {
    id: e.id,
    kind: e.kind,
    submissionId: e.submissionId,
    by: e.actor.name,
    at: e.at,
    comment: e.comment,
    details: e.details,
  };
}
