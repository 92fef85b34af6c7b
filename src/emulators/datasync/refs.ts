import type { EntityRef, SysRef } from './types.js';

/** `$sys.id`, or null. */
export function sysIdOf(sys: SysRef | null | undefined): string | null {
  return typeof sys?.id === 'string' ? sys.id : null;
}

/** The first value of `$sys.source_id` (the id in the first app that names it), or null. */
export function sourceIdOf(sys: SysRef | null | undefined): string | null {
  const first = Object.values(sys?.source_id ?? {})[0];
  return typeof first === 'string' ? first : null;
}

/** Every id an entity is known by: its `$sys.id` and each value of its `$sys.source_id`. */
export function idsOf(ref: EntityRef | null | undefined): string[] {
  if (!ref) return [];
  const ids = Object.values(ref.$sys?.source_id ?? {}).filter((v) => typeof v === 'string');
  const sysId = sysIdOf(ref.$sys);
  return sysId === null ? ids : [sysId, ...ids];
}

/** A key that identifies an entity across chunks ($sys.id, else its first source id), or null. */
export function keyOf(sys: SysRef | null | undefined): string | null {
  const id = sysIdOf(sys);
  if (id !== null) return `id:${id}`;
  const source = sourceIdOf(sys);
  return source === null ? null : `source:${source}`;
}

/** `{id, source_id, name}` of an entity, for logs. */
export function brief(
  ref: { name?: string | null; $sys?: SysRef | null } | null | undefined,
): { id: string | null; source_id: string | null; name: string | null } | null {
  if (!ref) return null;
  return {
    id: sysIdOf(ref.$sys),
    source_id: sourceIdOf(ref.$sys),
    name: typeof ref.name === 'string' ? ref.name : null,
  };
}
