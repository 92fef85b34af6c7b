import type { AppDeps } from '../deps.js';
import { LmsEmulator, seedDemoCourse } from '../emulators/lms/index.js';
import { registerPlatform, toolUrls } from '../lti/registration.js';

/**
 * The demo's LMS: the emulator on DEMO_LMS_PORT with a demo course, gradebridge
 * registered in it as a tool, and it registered in gradebridge as a platform
 * of the demo tenant. A person opens the emulator's home page and launches
 * gradebridge as the teacher or a learner.
 */
export async function startDemoLms(
  deps: AppDeps,
  tenantId: number,
  baseUrl: string,
): Promise<LmsEmulator> {
  // On localhost, like the tool's default URL: the same site, so the login's state cookie comes back with the launch.
  const lms = await LmsEmulator.start({ port: deps.config.DEMO_LMS_PORT, host: 'localhost' });
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
