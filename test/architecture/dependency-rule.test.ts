import { expect } from 'chai';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { projectRoot, shell } from '../helpers/server-process.js';

describe('the dependency rule (npm run check)', function () {
  this.timeout(120_000);

  it('passes on the project', async () => {
    const result = await shell('npm run --silent deps', process.env, 120_000);
    expect(result.code, result.stdout + result.stderr).to.equal(0);
    expect(result.stdout).to.include('no dependency violations');
  });

  it('fails when the grade model imports a surface, and when two folders import each other', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gradebridge-rule-'));
    try {
      const write = (file: string, text: string) => {
        fs.mkdirSync(path.dirname(path.join(dir, file)), { recursive: true });
        fs.writeFileSync(path.join(dir, file), text);
      };
      fs.copyFileSync(path.join(projectRoot, 'tsconfig.json'), path.join(dir, 'tsconfig.json'));
      write(
        'src/lti/passback.ts',
        "import { chunk } from '../grades/grade-batch.js';\nexport const send = chunk;\n",
      );
      write(
        'src/grades/grade-batch.ts',
        "import { send } from '../lti/passback.js';\nexport const chunk = 1;\nexport const s = send;\n",
      );
      write(
        'src/jobs/queue.ts',
        "import { job } from '../exchange/jobs.js';\nexport const queue = job;\n",
      );
      write(
        'src/exchange/jobs.ts',
        "import { queue } from '../jobs/queue.js';\nexport const job = queue;\n",
      );
      const result = await shell(
        `"${path.join(projectRoot, 'node_modules/.bin/depcruise')}" src --config "${path.join(projectRoot, '.dependency-cruiser.cjs')}"`,
        process.env,
        120_000,
        dir,
      );
      expect(result.code).to.not.equal(0);
      expect(result.stdout).to.include(
        'model-imports-no-surface: src/grades/grade-batch.ts → src/lti/passback.ts',
      );
      expect(result.stdout).to.match(/no-folder-cycles: src\/jobs →\s+src\/exchange →\s+src\/jobs/);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
