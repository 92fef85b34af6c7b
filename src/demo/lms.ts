import type { AppDeps } from '../deps.js';
import { LmsEmulator, seedDemoCourse } from '../emulators/lms/index.js';
import { registerPlatform, toolUrls } from '../lti/registration.js';

/**
 * The demo's LMS: the emulator on DEMO_LMS_PORT with a demo course, gradebridge
 * registered in it as a tool, and it registered in gradebridge as a platform
 * of the demo tenant. A person opens the emulator's home page and launches
 * gradebridge as the teacher or a learner, inside the course page's iframe
 * (with platform storage, as Canvas) or in a new window.
 */
export async function startDemoLms(
  deps: AppDeps,
  tenantId: number,
  baseUrl: string,
): Promise<LmsEmulator> {
  // On the other loopback name than the tool's (127.0.0.1 beside localhost): another site, as
  // an LMS is, so the tool runs in a cross-site iframe and launches through platform storage.
  const toolHost = new URL(baseUrl).hostname;
  const host = toolHost === '127.0.0.1' ? 'localhost' : '127.0.0.1';
  const lms = await LmsEmulator.start({ port: deps.config.DEMO_LMS_PORT, host });
  seedDemoCourse(lms);
  const urls = toolUrls(baseUrl);
  const tool = lms.registerTool({
    name: 'gradebridge',
    loginUrl: urls.login,
    launchUrl: urls.launch,
    keysetUrl: urls.keys,
    clientId: 'gradebridge-demo',
    deploymentIds: ['demo-deployment'],
  });
  await registerPlatform(deps, {
    tenantId,
    issuer: lms.issuer,
    clientId: tool.clientId,
    name: 'LMS emulator',
    authenticationEndpoint: lms.endpoints.authorization,
    accessTokenEndpoint: lms.endpoints.token,
    keysetUrl: lms.endpoints.keyset,
    deploymentIds: [tool.deploymentId],
  });
  return lms;
}
