import type { ColumnInfo } from './course-columns.js';
import { formatScore, parseScore } from './numbers.js';
import { findSymbol, symbolFor } from './symbols.js';

/** The grade text of a score in a column: its schema's symbol when one applies, else the score. */
export function gradeText(
  column: Pick<ColumnInfo, 'symbols'>,
  score: number,
  points: number,
): string {
  if (column.symbols) {
    const symbol = symbolFor(column.symbols, score, points);
    if (symbol !== null) return symbol;
  }
  return formatScore(score);
}

export type Interpreted =
  { ok: true; score: number | null; grade: string } | { ok: false; error: string };

/**
 * Reads a grade value as a symbol of the column's schema or as a number of
 * points. A symbol's score is its lower bound as a share of points possible.
 */
export function interpretValue(
  column: Pick<ColumnInfo, 'symbols' | 'name'>,
  points: number,
  value: string,
): Interpreted {
  const trimmed = value.trim();
  if (trimmed === '') return { ok: false, error: 'value must not be empty' };
  if (column.symbols) {
    const symbol = findSymbol(column.symbols, trimmed);
    if (symbol) {
      const score =
        symbol.lowerBound === null ? null : Number(((symbol.lowerBound / 100) * points).toFixed(6));
      return { ok: true, score, grade: symbol.symbol };
    }
  }
  const score = parseScore(trimmed);
  if (score === null) {
    return {
      ok: false,
      error: column.symbols
        ? `value "${value}" is neither a non-negative number nor a symbol of the column's grade schema (${column.symbols.map((s) => s.symbol).join(', ')})`
        : `value "${value}" is not a non-negative number, and column "${column.name}" has no grade schema`,
    };
  }
  return { ok: true, score, grade: gradeText(column, score, points) };
}
