import { closeSharedContext } from './helpers/context.js';
import { testDbKind } from './helpers/database.js';

/** Root hooks: say which database the run uses, and drop the shared one at the end. */
export const mochaHooks = {
  beforeAll(): void {
    process.stderr.write(`\n  test database: ${testDbKind}\n`);
  },
  async afterAll(): Promise<void> {
    await closeSharedContext();
  },
};
