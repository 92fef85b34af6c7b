/**
 * Grade schemas: a list of symbols, each with an optional lower bound given as
 * a percentage of points possible (`A=90:B=80:C=70:F=0`). A score maps to the
 * symbol with the highest bound it reaches; the percentage is truncated to
 * two decimals, not rounded, so 89.999% is a B where A=90.
 */
export interface GradeSymbol {
  symbol: string;
  /** Lower bound in percent, or null when the symbol has none. */
  lowerBound: number | null;
}

export type ParseResult<T> = { ok: true; value: T } | { ok: false; error: string };

const BOUND = /^\d+(\.\d+)?$/;

export function parseSymbols(text: string): ParseResult<GradeSymbol[]> {
  const parts = text.split(':');
  const symbols: GradeSymbol[] = [];
  const seen = new Set<string>();
  const bounds = new Set<number>();
  for (const [index, raw] of parts.entries()) {
    const part = raw.trim();
    if (part === '') return { ok: false, error: `symbols: entry ${index + 1} is empty` };
    const eq = part.indexOf('=');
    const symbol = (eq === -1 ? part : part.slice(0, eq)).trim();
    if (symbol === '') return { ok: false, error: `symbols: entry ${index + 1} has no symbol` };
    if (eq !== -1 && part.indexOf('=', eq + 1) !== -1) {
      return { ok: false, error: `symbols: entry "${part}" has more than one "="` };
    }
    let lowerBound: number | null = null;
    if (eq !== -1) {
      const boundText = part.slice(eq + 1).trim();
      if (!BOUND.test(boundText)) {
        return {
          ok: false,
          error: `symbols: lower bound of "${symbol}" must be a non-negative number, got "${boundText}"`,
        };
      }
      lowerBound = Number(boundText);
      if (bounds.has(lowerBound)) {
        return { ok: false, error: `symbols: lower bound ${lowerBound} is used more than once` };
      }
      bounds.add(lowerBound);
    }
    if (seen.has(symbol))
      return { ok: false, error: `symbols: "${symbol}" appears more than once` };
    seen.add(symbol);
    symbols.push({ symbol, lowerBound });
  }
  return { ok: true, value: symbols };
}

/**
 * The percentage of points possible, truncated (never rounded up) to two
 * decimals: 89.996 % is 89.99 %, so it does not reach a bound of 90, while
 * 89.5 % reaches a bound of 89.5. Float noise is guarded against
 * (79.99999999 -> 80). Every surface's letter comes from this one rule.
 */
export function percentOf(score: number, points: number): number | null {
  if (!(points > 0)) return null;
  return Math.floor((score * 10000) / points + 1e-6) / 100;
}

/** The symbol a score earns, or null when the schema has no bounds or the score reaches none. */
export function symbolFor(symbols: GradeSymbol[], score: number, points: number): string | null {
  const pct = percentOf(score, points);
  if (pct === null) return null;
  let best: GradeSymbol | null = null;
  for (const s of symbols) {
    if (s.lowerBound === null || pct < s.lowerBound) continue;
    if (best === null || s.lowerBound > best.lowerBound!) best = s;
  }
  return best?.symbol ?? null;
}

/** Finds a symbol by exact text, then ignoring case. */
export function findSymbol(symbols: GradeSymbol[], value: string): GradeSymbol | null {
  return (
    symbols.find((s) => s.symbol === value) ??
    symbols.find((s) => s.symbol.toLowerCase() === value.toLowerCase()) ??
    null
  );
}

export function formatSymbols(symbols: GradeSymbol[]): string {
  return symbols
    .map((s) => (s.lowerBound === null ? s.symbol : `${s.symbol}=${s.lowerBound}`))
    .join(':');
}
