/** Rounds computed scores to two decimals, as gradebooks display them. */
export function roundScore(value: number): number {
  return Math.round((value + Number.EPSILON) * 100) / 100;
}

/** The grade text of a plain score: `85`, `85.5`. */
export function formatScore(value: number): string {
  return String(Number(value.toFixed(6)));
}

const NUMBER = /^[+]?(\d+(\.\d*)?|\.\d+)$/;

export function parseScore(text: string): number | null {
  const trimmed = text.trim();
  if (!NUMBER.test(trimmed)) return null;
  const value = Number(trimmed);
  return Number.isFinite(value) ? value : null;
}
