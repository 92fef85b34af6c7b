import { Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { AppMiddleware } from '../http/surface.js';

export interface Metrics {
  registry: Registry;
  middleware: AppMiddleware;
}

/** A registry per app, so several apps in one process (tests, benchmarks) never collide. */
export function createMetrics(options: {
  defaultMetrics: boolean;
  /** Open drift by tenant and state, read when /metrics is scraped (every process sees the same). */
  driftCounts?: () => Promise<Array<{ tenantId: number; state: string; count: number }>>;
}): Metrics {
  const registry = new Registry();
  if (options.defaultMetrics) collectDefaultMetrics({ register: registry });
  const driftCounts = options.driftCounts;
  if (driftCounts) {
    new Gauge({
      name: 'gradebridge_grade_drift',
      help: 'Grades whose LMS, gradebridge and SIS values disagree (or whose outcome is unknown), by tenant and state',
      labelNames: ['tenant', 'state'],
      registers: [registry],
      async collect() {
        this.reset();
        for (const c of await driftCounts())
          this.set({ tenant: String(c.tenantId), state: c.state }, c.count);
      },
    });
  }
  const duration = new Histogram({
    name: 'gradebridge_http_request_duration_seconds',
    help: 'HTTP request duration by route and status',
    labelNames: ['method', 'route', 'status'],
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    registers: [registry],
  });
  const middleware: AppMiddleware = async (ctx, next) => {
    const end = duration.startTimer();
    try {
      await next();
    } finally {
      const route = (ctx as unknown as { _matchedRoute?: string })._matchedRoute ?? 'unmatched';
      end({ method: ctx.method, route, status: String(ctx.status) });
    }
  };
  return { registry, middleware };
}
