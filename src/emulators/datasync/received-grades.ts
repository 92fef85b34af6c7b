import { sourceIdOf, sysIdOf } from './refs.js';
import type { ChunkRecord, ReceivedGrades } from './types.js';

/**
 * Flattens the accepted chunks of an exchange, in arrival order, duplicates
 * included (every item names its chunk), so a test can check that each grade
 * arrived whole and once.
 */
export function receivedGrades(chunks: readonly ChunkRecord[]): ReceivedGrades {
  const out: ReceivedGrades = { assignments: [], scores: [], summaries: [] };
  for (const chunk of chunks) {
    for (const a of chunk.body.assignments ?? []) {
      const assignmentSysId = sysIdOf(a.$sys);
      const assignmentSourceId = sourceIdOf(a.$sys);
      out.assignments.push({
        assignmentSysId,
        assignmentSourceId,
        name: a.name ?? null,
        chunk: chunk.index,
      });
      for (const s of a.scores ?? []) {
        out.scores.push({
          assignmentSysId,
          assignmentSourceId,
          personSysId: sysIdOf(s.$person.$sys),
          personSourceId: sourceIdOf(s.$person.$sys),
          score: s.score ?? null,
          grade: s.grade ?? null,
          chunk: chunk.index,
        });
      }
    }
    for (const s of chunk.body.summaries ?? []) {
      out.summaries.push({
        personSysId: sysIdOf(s.$person.$sys),
        personSourceId: sourceIdOf(s.$person.$sys),
        sectionSysId: sysIdOf(s.$section?.$sys),
        sectionSourceId: sourceIdOf(s.$section?.$sys),
        summaryType: s.summary_type ?? null,
        scoreType: s.score_type ?? null,
        score: s.score ?? null,
        grade: s.grade ?? null,
        chunk: chunk.index,
      });
    }
  }
  return out;
}
