// Worker thread of bench/http-client.ts: sends the planned requests, `concurrency` at a time.
import { parentPort, workerData } from 'node:worker_threads';

const plan = workerData;
const latenciesMs = new Array(plan.bodies.length);
let next = 0;

async function loop() {
  while (next < plan.bodies.length) {
    const index = next++;
    const t = performance.now();
    const res = await fetch(plan.urls ? plan.urls[index] : plan.url, {
      method: plan.method ?? 'POST',
      headers: {
        Authorization: `Bearer ${plan.token}`,
        'Content-Type': 'application/json',
        ...plan.headers,
      },
      body: plan.method === 'GET' ? undefined : plan.bodies[index],
    });
    const text = await res.text();
    latenciesMs[index] = performance.now() - t;
    if (res.status !== 200 || (plan.failOn && text.includes(plan.failOn))) {
      throw new Error(`${plan.url ?? plan.urls[index]}: ${res.status} ${text.slice(0, 500)}`);
    }
  }
}

try {
  const started = performance.now();
  await Promise.all(Array.from({ length: plan.concurrency ?? 1 }, loop));
  parentPort.postMessage({ seconds: (performance.now() - started) / 1000, latenciesMs });
} catch (err) {
  parentPort.postMessage({ error: String(err) });
}
