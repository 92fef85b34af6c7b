import { runUntilSignal } from '../shared/main.js';
import { LmsEmulator } from './emulator.js';
import { DEMO_CONTEXT_ID, seedDemoCourse } from './demo-course.js';

/** Runs the LMS emulator on its own, with a demo course: LMS_PORT (default 4100). */
async function main(): Promise<LmsEmulator> {
  const port = Number(process.env.LMS_PORT ?? 4100);
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw new Error(`LMS_PORT must be a port number, not "${process.env.LMS_PORT}".`);
  }
  const lms = await LmsEmulator.start({ port });
  seedDemoCourse(lms);
  const { endpoints } = lms;
  console.log(`LMS emulator listening on ${lms.url}

  Home page (launch links):  ${lms.url}/
  Issuer:                    ${lms.issuer}
  OpenID configuration:      ${endpoints.openidConfiguration}
  Authorization endpoint:    ${endpoints.authorization}
  Token endpoint:            ${endpoints.token}
  Keyset (JWKS):             ${endpoints.keyset}
  Registration endpoint:     ${endpoints.registration}
  Demo course:               ${DEMO_CONTEXT_ID}

Register a tool with Dynamic Registration from the home page, or in code with registerTool().`);
  return lms;
}

runUntilSignal(main);
