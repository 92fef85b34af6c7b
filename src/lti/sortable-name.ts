/**
 * Learners in the order a gradebook lists them: by family name, then given
 * name, the way a class list reads ("Hopper, Grace"); people gradebridge
 * knows no name for (only an email or an SIS id) come last.
 */

/** Lower-case words that belong to the family name that follows them ("van", "de la"). */
const PARTICLES = new Set([
  'al',
  'bin',
  'da',
  'das',
  'de',
  'del',
  'della',
  'der',
  'di',
  'do',
  'dos',
  'du',
  'el',
  'la',
  'le',
  'st',
  'ten',
  'ter',
  'van',
  'von',
]);

/** "Grace Brewster Hopper" → "Hopper, Grace Brewster"; "Ludwig van Beethoven" → "Beethoven, Ludwig van"; "Hopper, Grace" stays. */
export function sortableName(name: string): string {
  const trimmed = name.trim().replace(/\s+/g, ' ');
  if (trimmed.includes(',')) return trimmed;
  const words = trimmed.split(' ');
  if (words.length < 2) return trimmed;
  let start = words.length - 1;
  while (start > 1 && PARTICLES.has(words[start - 1]!)) start--;
  const family = words.slice(start);
  const particles = family.filter((w) => PARTICLES.has(w));
  const core = family.filter((w) => !PARTICLES.has(w));
  return `${core.join(' ')}, ${[...words.slice(0, start), ...particles].join(' ')}`;
}

const collator = new Intl.Collator('en', { sensitivity: 'base', numeric: true });

export interface Named {
  id: number;
  /** The person's name, when known. */
  name: string | null;
  /** What to show instead when there is no name (an email, an SIS id). */
  fallback: string;
}

/** Sorts people by sortable name, the nameless last (by what stands for them), then by id. */
export function bySortableName<T extends Named>(people: T[]): T[] {
  const keyed = people.map((p) => {
    const name = p.name?.trim() ? p.name : null;
    return { p, named: name !== null, key: name !== null ? sortableName(name) : p.fallback };
  });
  keyed.sort(
    (a, b) =>
      Number(b.named) - Number(a.named) || collator.compare(a.key, b.key) || a.p.id - b.p.id,
  );
  return keyed.map((k) => k.p);
}

/** Text folded for search: no case, no accents. */
export const folded = (text: string) =>
  text
    .normalize('NFD')
    .replace(/[\u0300-\u036f]/g, '')
    .toLowerCase();
