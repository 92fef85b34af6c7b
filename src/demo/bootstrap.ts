import type { AppDeps } from '../deps.js';
import { isoNow } from '../db/time.js';
import { inTransaction } from '../db/transaction.js';
import { setApprovalMode } from '../grades/final-grade-workflow.js';
import { createApiClient, createTenant } from '../tenants/service.js';

export interface DemoCredentials {
  tenantId: number;
  clientId: string;
  clientSecret: string;
}

/** Creates the demo tenant and API client when the database has no tenant yet. */
export async function ensureDemoTenant(deps: AppDeps): Promise<DemoCredentials | null> {
  return inTransaction(deps.db, async (trx) => {
    const existing = await trx('tenants').first('id');
    if (existing) return null;
    const now = isoNow(deps.clock);
    const tenant = await createTenant(
      trx,
      { name: 'Demo School', timeZone: deps.config.DEFAULT_TIME_ZONE },
      now,
    );
    // The demo shows final grades with a person in the loop: they go out once approved.
    await setApprovalMode(trx, tenant.id, 'required', now);
    const { client, secret } = await createApiClient(
      trx,
      {
        tenantId: tenant.id,
        scopes: ['journey', 'history', 'progress', 'exchange', 'admin', 'final-grades'],
        name: 'Demo SIS',
        graderName: 'Demo SIS',
      },
      now,
    );
    return { tenantId: tenant.id, clientId: client.clientId, clientSecret: secret };
  });
}

/** The first-start message: the demo credentials (shown once) and curl commands that work as printed. */
export function demoInstructions(baseUrl: string, demo: DemoCredentials): string {
  const journey = `${baseUrl}/learn/api/v2/cc/gradejourney`;
  const post = (path: string, body: unknown) =>
    `curl -s -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' \\\n    -d '${JSON.stringify(body)}' ${journey}/${path}`;
  return [
    '',
    `Demo tenant ${demo.tenantId} "Demo School" created with an API client (the secret is shown only now; it is stored hashed):`,
    `  client_id:     ${demo.clientId}`,
    `  client_secret: ${demo.clientSecret}`,
    '',
    'Try it:',
    `  TOKEN=$(curl -s -u '${demo.clientId}:${demo.clientSecret}' -d grant_type=client_credentials ${baseUrl}/oauth2/token \\`,
    `    | node -pe 'JSON.parse(require("fs").readFileSync(0, "utf8")).access_token')`,
    `  ${post('gradeSchemasAPI', [{ title: 'Letter', symbols: 'A=90:B=80:C=70:D=60:F=0' }])}`,
    `  ${post('gradableItemsAPI', [
      {
        courseId: 'DEMO-101',
        name: 'Essay 1',
        itemType: 'ASSIGNMENT',
        points: 50,
        gradeSchema: 'Letter',
      },
      { courseId: 'DEMO-101', name: 'Test 1', itemType: 'TEST', points: 100 },
      {
        courseId: 'DEMO-101',
        name: 'Final Grade',
        itemType: 'WEIGHTED_COLUMN',
        points: 100,
        gradeSchema: 'Letter',
        mapping: 'Essay 1=40,Test 1=60',
      },
    ])}`,
    `  ${post('externalGradeColumnAPI', [{ courseId: 'DEMO-101', name: 'Final Grade' }])}`,
    `  ${post('userMetadataAPI', [{ courseId: 'DEMO-101', userId: 'student1', optionalData: 'EnrollType=LetterGrade' }])}`,
    `  ${post('gradeValueAPI', [
      { courseId: 'DEMO-101', userId: 'student1', name: 'Essay 1', value: 'B' },
      { courseId: 'DEMO-101', userId: 'student1', name: 'Test 1', value: '88' },
    ])}`,
    '',
    `API documentation: ${baseUrl}/docs`,
    '',
  ].join('\n');
}
