/**
 * LTI launches and pulls.
 *
 * Launches: full teacher launches (OIDC login at the tool, the platform's
 * authorization and its auto-posted id_token, the launch, the teacher page)
 * against the LMS emulator, one at a time and 20 at once, with the
 * emulator's keyset answering in 0 ms and in 50 ms, for gradebridge and for
 * plain ltijs on the same knex store, each tool in a process of its own.
 *
 * Pull: a course with 50 line items and 1,000 learners (50,000 results)
 * pulled through AGS and Names and Roles into an empty store.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { LmsEmulator } from '../src/emulators/lms/index.js';
import { isoNow } from '../src/db/time.js';
import { inTransaction } from '../src/db/transaction.js';
import { recordLaunch } from '../src/lti/launch.js';
import { CLAIM, readClaims } from '../src/lti/launch-check.js';
import { registerPlatform, toolUrls } from '../src/lti/registration.js';
import { AGS, pullContext } from '../src/lti/services.js';
import { createTenant } from '../src/tenants/service.js';
import { Browser } from '../test/helpers/browser.js';
import { fmt, machine, percentile, saveResult, startServer } from './lib.js';

const INSTRUCTOR = 'http://purl.imsglobal.org/vocab/lis/v2/membership#Instructor';
const LEARNER = 'http://purl.imsglobal.org/vocab/lis/v2/membership#Learner';

interface Child {
  process: ChildProcess;
  port: number;
  message(
    m: unknown,
    until: (reply: Record<string, unknown>) => boolean,
  ): Promise<Record<string, unknown>>;
}

async function startChild(mode: 'gradebridge' | 'ltijs'): Promise<Child> {
  const child = fork(new URL('./lti-child.ts', import.meta.url).pathname, [mode], {
    execArgv: ['--import', 'tsx'],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const next = (until: (reply: Record<string, unknown>) => boolean) =>
    new Promise<Record<string, unknown>>((resolve, reject) => {
      const onMessage = (m: Record<string, unknown>) => {
        if (m.error) reject(new Error(String(m.error)));
        else if (until(m)) {
          child.off('message', onMessage);
          resolve(m);
        }
      };
      child.on('message', onMessage);
      child.once('exit', (code) => reject(new Error(`${mode} exited with ${code}`)));
    });
  const { listening } = await next((m) => typeof m.listening === 'number');
  return {
    process: child,
    port: listening as number,
    message: (m, until) => {
      const reply = next(until);
      child.send(m as never);
      return reply;
    },
  };
}

interface Figures {
  perSecond: number;
  medianMs: number;
  p99Ms: number;
}
interface LaunchFigures {
  sequential: Figures;
  concurrent20: Figures;
}
const MODES = ['ltijs', 'gradebridge'] as const;
const ROUNDS = 3;
const WARM_UP = 1500;
const medianRound = (rounds: Figures[]): Figures =>
  [...rounds].sort((a, b) => a.perSecond - b.perSecond)[Math.floor(rounds.length / 2)]!;

async function measure(
  launch: () => Promise<void>,
  count: number,
  concurrency: number,
): Promise<Figures> {
  const latencies: number[] = [];
  let next = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < count) {
        next++;
        const t = performance.now();
        await launch();
        latencies.push(performance.now() - t);
      }
    }),
  );
  const seconds = (performance.now() - started) / 1000;
  const sorted = latencies.sort((a, b) => a - b);
  return {
    perSecond: Number((count / seconds).toFixed(1)),
    medianMs: Number(percentile(sorted, 50).toFixed(1)),
    p99Ms: Number(percentile(sorted, 99).toFixed(1)),
  };
}

async function launches(): Promise<Record<string, unknown>> {
  const lms = await LmsEmulator.start();
  lms.createContext({ id: 'bench-ctx', label: 'BENCH', title: 'Bench course' });
  lms.addMember('bench-ctx', { userId: 'teacher', name: 'Bench Teacher', roles: [INSTRUCTOR] });
  for (let i = 0; i < 30; i++)
    lms.addMember('bench-ctx', { userId: `l${i}`, name: `Learner ${i}`, roles: [LEARNER] });
  lms.addResourceLink('bench-ctx', { id: 'bench-link', title: 'Gradebook' });
  const children = {
    gradebridge: await startChild('gradebridge'),
    ltijs: await startChild('ltijs'),
  };
  const clients: Record<string, string> = {};
  for (const [mode, child] of Object.entries(children)) {
    const base = `http://127.0.0.1:${child.port}`;
    const urls =
      mode === 'gradebridge'
        ? toolUrls(base)
        : { login: `${base}/login`, launch: `${base}/launch`, keys: `${base}/keys`, register: '' };
    const tool = lms.registerTool({
      name: mode,
      loginUrl: urls.login,
      launchUrl: urls.launch,
      keysetUrl: urls.keys,
    });
    clients[mode] = tool.clientId;
    await child.message(
      {
        register: {
          issuer: lms.issuer,
          clientId: tool.clientId,
          deploymentId: tool.deploymentId,
          auth: lms.endpoints.authorization,
          token: lms.endpoints.token,
          keyset: lms.endpoints.keyset,
        },
      },
      (m) => m.registered === true,
    );
  }
  const launch = (mode: string) => async () => {
    const page = await new Browser().open(
      lms.loginInitiationUrl({
        toolClientId: clients[mode]!,
        userId: 'teacher',
        contextId: 'bench-ctx',
        resourceLinkId: 'bench-link',
      }),
      { submitForms: true },
    );
    const marker = mode === 'gradebridge' ? 'course staff' : 'Teacher page';
    if (page.status !== 200 || !page.html.includes(marker))
      throw new Error(`${mode} launch failed: ${page.status} ${page.html.slice(0, 300)}`);
  };
  const figures: Record<string, Record<string, LaunchFigures>> = {};
  try {
    // Both tools warm up (JIT, caches, SQLite pages) before anything is measured.
    for (const mode of MODES) await measure(launch(mode), WARM_UP, 4);
    for (const delay of [0, 50]) {
      lms.keysetDelayMs = delay;
      // Rounds alternate between the tools so that both see the same machine;
      // each figure is the median round.
      const rounds: Record<string, { sequential: Figures[]; concurrent20: Figures[] }> = {};
      for (let round = 0; round < ROUNDS; round++) {
        for (const mode of round % 2 ? [...MODES].reverse() : MODES) {
          const r = (rounds[mode] ??= { sequential: [], concurrent20: [] });
          r.sequential.push(await measure(launch(mode), 100, 1));
          r.concurrent20.push(await measure(launch(mode), 200, 20));
        }
      }
      for (const mode of MODES) {
        (figures[`keyset${delay}ms`] ??= {})[mode] = {
          sequential: medianRound(rounds[mode]!.sequential),
          concurrent20: medianRound(rounds[mode]!.concurrent20),
        };
      }
    }
  } finally {
    for (const child of Object.values(children)) {
      child.process.send({ exit: true });
      await once(child.process, 'exit');
    }
    await lms.close();
  }
  console.log(
    '\nLTI launches (login through the teacher page)             launches/s   median     p99',
  );
  for (const [delay, byMode] of Object.entries(figures)) {
    for (const [mode, f] of Object.entries(byMode)) {
      for (const [kind, m] of Object.entries(f)) {
        console.log(
          `  ${delay.padEnd(11)} ${mode.padEnd(12)} ${kind.padEnd(13)} ${fmt(m.perSecond, 1).padStart(10)} ${fmt(m.medianMs, 1).padStart(7)} ms ${fmt(m.p99Ms, 1).padStart(6)} ms`,
        );
      }
    }
  }
  const g50 = figures.keyset50ms!;
  const g0 = figures.keyset0ms!;
  const ratios = {
    medianAt50msKeyset: Number(
      (g50.gradebridge!.sequential.medianMs / g50.ltijs!.sequential.medianMs).toFixed(3),
    ),
    launchesPerSecondAt0msKeyset: Number(
      (g0.gradebridge!.sequential.perSecond / g0.ltijs!.sequential.perSecond).toFixed(2),
    ),
    launchesPerSecondAt0msKeyset20: Number(
      (g0.gradebridge!.concurrent20.perSecond / g0.ltijs!.concurrent20.perSecond).toFixed(2),
    ),
  };
  console.log(
    `  gradebridge median / plain ltijs median, keyset 50 ms: ${ratios.medianAt50msKeyset}`,
  );
  console.log(
    `  gradebridge launches/s / plain ltijs, keyset 0 ms:     ${ratios.launchesPerSecondAt0msKeyset} (one at a time), ${ratios.launchesPerSecondAt0msKeyset20} (20 at once)`,
  );
  return { figures, ratios };
}

async function pull(): Promise<Record<string, unknown>> {
  const LINE_ITEMS = 50;
  const LEARNERS = 1000;
  const lms = await LmsEmulator.start({ pageSize: 100 });
  const server = await startServer();
  try {
    lms.createContext({ id: 'pull-ctx', label: 'PULL', title: 'Pull course' });
    lms.addMember('pull-ctx', { userId: 'teacher', name: 'Teacher', roles: [INSTRUCTOR] });
    for (let l = 0; l < LEARNERS; l++)
      lms.addMember('pull-ctx', {
        userId: `p${l}`,
        name: `Learner ${l}`,
        email: `p${l}@example.edu`,
        roles: [LEARNER],
      });
    for (let i = 0; i < LINE_ITEMS; i++) {
      const item = lms.addLineItem('pull-ctx', { label: `Assignment ${i + 1}`, scoreMaximum: 100 });
      for (let l = 0; l < LEARNERS; l++)
        lms.setResult(item.id, `p${l}`, { resultScore: (l * 7 + i * 13) % 101 });
    }
    const urls = toolUrls(server.baseUrl);
    const tool = lms.registerTool({
      name: 'gradebridge',
      loginUrl: urls.login,
      launchUrl: urls.launch,
      keysetUrl: urls.keys,
    });
    const deps = server.deps;
    const tenant = await inTransaction(deps.db, (trx) =>
      createTenant(trx, { name: 'Pull' }, isoNow(deps.clock)),
    );
    await registerPlatform(deps, {
      tenantId: tenant.id,
      issuer: lms.issuer,
      clientId: tool.clientId,
      authenticationEndpoint: lms.endpoints.authorization,
      accessTokenEndpoint: lms.endpoints.token,
      keysetUrl: lms.endpoints.keyset,
      deploymentIds: [tool.deploymentId],
    });
    // The course as a teacher's launch leaves it: the context with its service endpoints.
    const deployment = await deps
      .db('lti_deployments')
      .where({ client_id: tool.clientId })
      .first('id');
    const claims = readClaims(
      {
        iss: lms.issuer,
        sub: 'teacher',
        [CLAIM.version]: '1.3.0',
        [CLAIM.messageType]: 'LtiResourceLinkRequest',
        [CLAIM.deploymentId]: tool.deploymentId,
        [CLAIM.roles]: [INSTRUCTOR],
        [CLAIM.resourceLink]: { id: 'l' },
        [CLAIM.context]: { id: 'pull-ctx', title: 'Pull course' },
        [CLAIM.ags]: {
          scope: [AGS.lineItem, AGS.resultRead, AGS.score],
          lineitems: `${lms.url}/api/lti/contexts/pull-ctx/lineitems`,
        },
        [CLAIM.nrps]: {
          context_memberships_url: `${lms.url}/api/lti/contexts/pull-ctx/memberships`,
          service_versions: ['2.0'],
        },
      },
      tool.clientId,
    );
    const recorded = await inTransaction(deps.db, (trx) =>
      recordLaunch(
        trx,
        { claims, tenantId: tenant.id, deploymentRowId: deployment.id },
        isoNow(deps.clock),
      ),
    );
    let t = performance.now();
    const first = await pullContext(deps, recorded.ltiContextId);
    const firstSeconds = (performance.now() - t) / 1000;
    t = performance.now();
    const second = await pullContext(deps, recorded.ltiContextId);
    const secondSeconds = (performance.now() - t) / 1000;
    const result = {
      lineItems: first.lineItems,
      results: first.results,
      versionsFirst: first.versions,
      versionsSecond: second.versions,
      firstSeconds: Number(firstSeconds.toFixed(2)),
      resultsPerSecond: Math.round(first.results / firstSeconds),
      secondSeconds: Number(secondSeconds.toFixed(2)),
      resultsPerSecondUnchanged: Math.round(second.results / secondSeconds),
    };
    console.log(`\nAGS pull: ${fmt(LINE_ITEMS)} line items x ${fmt(LEARNERS)} learners, SQLite`);
    console.log(
      `  first pull:  ${fmt(result.results)} results, ${fmt(result.versionsFirst)} versions in ${fmt(firstSeconds, 2)} s: ${fmt(result.resultsPerSecond)} results/s`,
    );
    console.log(
      `  second pull: ${fmt(result.versionsSecond)} new versions in ${fmt(secondSeconds, 2)} s: ${fmt(result.resultsPerSecondUnchanged)} results/s`,
    );
    return result;
  } finally {
    await lms.close();
    await server.close();
  }
}

export async function run(): Promise<Record<string, unknown>> {
  const result = {
    benchmark: 'lti',
    machine: machine(),
    launches: await launches(),
    pull: await pull(),
  };
  saveResult('lti', result);
  return result;
}
