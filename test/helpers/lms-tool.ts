import type { AppDeps } from '../../src/deps.js';
import type { LmsEmulator } from '../../src/emulators/lms/index.js';
import { registerPlatform, toolUrls } from '../../src/lti/registration.js';

/**
 * gradebridge at `base` registered as a tool in the LMS emulator, and the
 * emulator registered as a platform of the tenant with the deployment it made:
 * what an administrator does on both sides before the first launch.
 */
export async function connectLms(
  deps: AppDeps,
  lms: LmsEmulator,
  tenantId: number,
  base: string,
): Promise<{ clientId: string; deploymentId: string }> {
  const urls = toolUrls(base);
  const tool = lms.registerTool({
    name: 'gradebridge',
    loginUrl: urls.login,
    launchUrl: urls.launch,
    keysetUrl: urls.keys,
  });
  await registerPlatform(deps, {
    tenantId,
    issuer: lms.issuer,
    clientId: tool.clientId,
    authenticationEndpoint: lms.endpoints.authorization,
    accessTokenEndpoint: lms.endpoints.token,
    keysetUrl: lms.endpoints.keyset,
    deploymentIds: [tool.deploymentId],
  });
  return { clientId: tool.clientId, deploymentId: tool.deploymentId };
}
