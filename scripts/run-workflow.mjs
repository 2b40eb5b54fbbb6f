// Runs a workflow file locally, as written, with the test runner (GitHub's own parser and
// expression evaluator): node scripts/run-workflow.mjs <workflow> --input k=v … --approve production
// The runner is TypeScript; it is bundled once with ncc into .tmp/run-workflow (again when a
// source is newer) because GitHub's parser cannot be imported by plain Node ESM.
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const sources = path.join(root, 'test', 'harness');
const bundle = path.join(root, '.tmp', 'run-workflow', 'index.js');

function newest(dir) {
  let t = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    t = Math.max(t, e.isDirectory() ? newest(p) : statSync(p).mtimeMs);
  }
  return t;
}

if (!existsSync(bundle) || statSync(bundle).mtimeMs < newest(sources)) {
  execFileSync(
    process.execPath,
    [
      path.join(root, 'node_modules/@vercel/ncc/dist/ncc/cli.js'),
      'build',
      'test/harness/workflow/cli.ts',
      '-o',
      path.dirname(bundle),
      '--target',
      'es2022',
      '-q',
    ],
    { cwd: root, stdio: 'inherit' },
  );
}
const r = spawnSync(process.execPath, [bundle, ...process.argv.slice(2)], { stdio: 'inherit' });
process.exit(r.status ?? 1);
