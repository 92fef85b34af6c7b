import type { Context, Middleware } from 'koa';
import { HttpError } from './errors.js';
import type { RequestMeter } from './request-meter.js';
import type { FaultKind, FaultSpec } from './types.js';

const KINDS: readonly FaultKind[] = ['status', 'timeout', 'drop'];

interface ActiveFault {
  spec: FaultSpec;
  method: string | null;
  path: RegExp | null;
  kind: FaultKind;
  status: number;
  when: 'before' | 'after';
  remaining: number;
}

/** Checks one fault; throws an Error naming the problem. */
function activate(spec: FaultSpec, index: number): ActiveFault {
  const where = `faults[${index}]`;
  if (typeof spec !== 'object' || spec === null) throw new Error(`${where} must be an object.`);
  if (!KINDS.includes(spec.kind))
    throw new Error(`${where}.kind must be one of ${KINDS.join(', ')}.`);
  const status = spec.status ?? 500;
  if (!(Number.isInteger(status) && status >= 400 && status <= 599)) {
    throw new Error(`${where}.status must be an integer from 400 to 599.`);
  }
  const count = spec.count ?? 1;
  if (!(Number.isInteger(count) && count >= 1)) {
    throw new Error(`${where}.count must be an integer >= 1.`);
  }
  const when = spec.when ?? 'before';
  if (when !== 'before' && when !== 'after') {
    throw new Error(`${where}.when must be before or after.`);
  }
  const match = spec.match ?? {};
  if (typeof match !== 'object' || match === null) {
    throw new Error(`${where}.match must be an object.`);
  }
  if (match.method !== undefined && typeof match.method !== 'string') {
    throw new Error(`${where}.match.method must be a string.`);
  }
  let path: RegExp | null = null;
  if (match.path !== undefined) {
    if (typeof match.path !== 'string') throw new Error(`${where}.match.path must be a string.`);
    try {
      path = new RegExp(match.path);
    } catch {
      throw new Error(`${where}.match.path is not a valid regular expression.`);
    }
  }
  return {
    spec: structuredClone(spec),
    method: match.method?.toUpperCase() ?? null,
    path,
    kind: spec.kind,
    status,
    when,
    remaining: count,
  };
}

/** Faults waiting for the requests they match; each hits `count` requests, oldest fault first. */
export class FaultInjector {
  private faults: ActiveFault[] = [];

  /** Adds faults after checking them all (none is added when one is wrong). */
  add(specs: FaultSpec[]): void {
    if (!Array.isArray(specs)) throw new Error('faults must be an array.');
    this.faults.push(...specs.map(activate));
  }

  clear(): void {
    this.faults = [];
  }

  /** The faults still waiting, with the count they have left. */
  pending(): FaultSpec[] {
    return this.faults.map((f) => ({ ...structuredClone(f.spec), count: f.remaining }));
  }

  /** The first fault that matches this request, used up by one. */
  take(method: string, path: string): ActiveFault | undefined {
    const fault = this.faults.find(
      (f) => (f.method === null || f.method === method) && (f.path === null || f.path.test(path)),
    );
    if (!fault) return undefined;
    fault.remaining -= 1;
    if (fault.remaining === 0) this.faults = this.faults.filter((f) => f !== fault);
    return fault;
  }
}

function apply(ctx: Context, fault: ActiveFault): void {
  if (fault.kind === 'status') {
    ctx.respond = true;
    throw new HttpError(
      fault.status,
      `Injected fault: ${fault.status} (${fault.when} the work was done).`,
    );
  }
  ctx.respond = false;
  if (fault.kind === 'drop') {
    ctx.req.socket.destroy();
  } else {
    // timeout: read what the client sends, answer nothing; close() ends the socket.
    ctx.req.resume();
  }
}

/**
 * Answers the requests a fault matches with it: `before` instead of the
 * work, `after` once the work was done (whatever its outcome).
 */
export function injectFaults(injector: FaultInjector, meter: RequestMeter): Middleware {
  return async (ctx, next) => {
    const fault = injector.take(ctx.method, ctx.path);
    if (!fault) {
      await next();
      return;
    }
    meter.faulted();
    if (fault.when === 'after') {
      try {
        await next();
      } catch {
        // The work failed; the client still gets the fault.
      }
    }
    apply(ctx, fault);
  };
}
