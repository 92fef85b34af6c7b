// Worker thread of bench/mixed.ts: `connections` loops, each sending the
// fixed sequence of request kinds (starting at a different place) until the
// time is up; latencies are kept per kind once the warm-up is over. With a
// `rate` (requests per second for all kinds together) request n is due at
// n / rate seconds and its time counts from then, so a request that waited for
// a free connection counts its wait; without one each connection sends the
// next request as soon as the previous one is answered.
import { parentPort, workerData } from 'node:worker_threads';

const { kinds, sequence, connections, warmupMs, durationMs, rate } = workerData;
const state = kinds.map(() => ({ next: 0, latenciesMs: [], errors: 0, samples: [] }));

/**
 * A Journey batch: the values of one column of one course, different on every
 * pass; one post after another goes to the next course (as the feeds of
 * different SIS jobs would), so that posts in flight at once seldom wait for
 * each other's course.
 */
function journeyBody(spec, n) {
  const batches = spec.courses.length * spec.columns.length;
  const batch = n % batches;
  const pass = Math.floor(n / batches) + spec.firstPass;
  const courseId = spec.courses[batch % spec.courses.length];
  const name = spec.columns[Math.floor(batch / spec.courses.length)];
  const items = [];
  for (let l = 0; l < spec.learners; l++) {
    items.push({ courseId, userId: `learner-${l + 1}`, name, value: String((pass * 7 + l) % 101) });
  }
  return JSON.stringify(items);
}

async function send(kind, k) {
  const s = state[k];
  const n = s.next++;
  const url = kind.urls[n % kind.urls.length];
  const body = kind.journey
    ? journeyBody(kind.journey, n)
    : kind.bodies
      ? kind.bodies[n % kind.bodies.length]
      : undefined;
  const t = performance.now();
  let problem = null;
  try {
    const res = await fetch(url, { method: kind.method, headers: kind.headers, body });
    const text = await res.text();
    if (res.status !== 200) problem = `${res.status} ${text.slice(0, 300)}`;
    else if (kind.failOn && text.includes(kind.failOn)) problem = `200 ${text.slice(0, 300)}`;
  } catch (err) {
    problem = String(err?.cause ?? err);
  }
  return { ms: performance.now() - t, problem };
}

const started = performance.now();
const measuringFrom = started + warmupMs;
const end = measuringFrom + durationMs;

let slot = 0;

async function loop(c) {
  let position = Math.floor((c * sequence.length) / connections);
  while (performance.now() < end) {
    let sentAt = performance.now();
    let waited = 0;
    if (rate) {
      const due = started + (slot++ * 1000) / rate;
      if (due >= end) break;
      if (due > sentAt) await new Promise((r) => setTimeout(r, due - sentAt));
      waited = Math.max(0, sentAt - due);
      sentAt = due;
    }
    const k = sequence[position++ % sequence.length];
    const answer = await send(kinds[k], k);
    const { problem } = answer;
    const ms = answer.ms + waited;
    if (sentAt < measuringFrom) continue;
    const s = state[k];
    if (problem) {
      s.errors++;
      if (s.samples.length < 5) s.samples.push(problem);
    } else s.latenciesMs.push(ms);
  }
}

await Promise.all(Array.from({ length: connections }, (_, c) => loop(c)));
parentPort.postMessage({
  seconds: (performance.now() - measuringFrom) / 1000,
  kinds: kinds.map((kind, k) => ({ name: kind.name, ...state[k], next: undefined })),
});
