/**
 * `npm run bench` runs every benchmark; `npm run bench -- <name>` runs one.
 * Results are printed and written to bench/results/<name>.json.
 */
const benchmarks: Record<string, () => Promise<unknown>> = {
  'journey-grade-values': async () => (await import('./journey-grade-values.js')).run(),
  history: async () => (await import('./history.js')).run(),
  progress: async () => (await import('./progress.js')).run(),
  lti: async () => (await import('./lti.js')).run(),
  exchange: async () => (await import('./exchange.js')).run(),
  'course-page': async () => (await import('./course-page.js')).run(),
  reconcile: async () => (await import('./reconcile.js')).run(),
  mixed: async () => (await import('./mixed.js')).run(),
};

const wanted = process.argv.slice(2);
const names = wanted.length > 0 ? wanted : Object.keys(benchmarks);
for (const name of names) {
  const bench = benchmarks[name];
  if (!bench) {
    console.error(`unknown benchmark "${name}"; known: ${Object.keys(benchmarks).join(', ')}`);
    process.exit(2);
  }
  await bench();
}
