import { fork } from 'node:child_process';
import { once } from 'node:events';
import { LmsEmulator } from '/work/main/src/emulators/lms/index.js';
import { toolUrls } from '/work/main/src/lti/registration.js';
import { Browser } from '/work/main/test/helpers/browser.js';
const lms = await LmsEmulator.start();
lms.createContext({ id: 'c', title: 'C' });
lms.addMember('c', { userId: 'teacher', name: 'T', roles: ['http://purl.imsglobal.org/vocab/lis/v2/membership#Instructor'] });
lms.addResourceLink('c', { id: 'l' });
const child = fork('/work/main/bench/lti-child.ts', ['gradebridge'], { execArgv: ['--import', 'tsx', '--cpu-prof', '--cpu-prof-dir=/tmp/ltiprof'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
const [m] = await once(child, 'message') as [{ listening: number }];
const urls = toolUrls(`http://127.0.0.1:${m.listening}`);
const tool = lms.registerTool({ name: 'g', loginUrl: urls.login, launchUrl: urls.launch, keysetUrl: urls.keys });
child.send({ register: { issuer: lms.issuer, clientId: tool.clientId, deploymentId: tool.deploymentId, auth: lms.endpoints.authorization, token: lms.endpoints.token, keyset: lms.endpoints.keyset } });
await once(child, 'message');
const times: Record<string, number[]> = { all: [] };
for (let i = 0; i < 400; i++) {
  const t = performance.now();
  const p = await new Browser().open(lms.loginInitiationUrl({ toolClientId: tool.clientId, userId: 'teacher', contextId: 'c', resourceLinkId: 'l' }), { submitForms: true });
  if (!p.html.includes('course staff')) throw new Error(p.html);
  if (i >= 100) times.all!.push(performance.now() - t);
}
const s = times.all!.sort((a, b) => a - b);
console.log('median', s[Math.floor(s.length / 2)]!.toFixed(2));
child.send({ exit: true });
await once(child, 'exit');
await lms.close();
