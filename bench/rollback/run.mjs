// Bundles bench.ts with ncc (it imports the TypeScript test harness) and runs it:
//   node bench/rollback/run.mjs [--size-mb 200]      (~1 GB: --size-mb 1000)
// The action is run from its bundle: rebuild it first (node scripts/build.mjs rollback).
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const out = path.join(root, '.tmp', 'bench-rollback');
execFileSync(
  process.execPath,
  [
    path.join(root, 'node_modules/@vercel/ncc/dist/ncc/cli.js'),
    'build',
    'bench/rollback/bench.ts',
    '-o',
    out,
    '-q',
    '--transpile-only',
  ],
  {
    cwd: root,
    stdio: 'inherit',
  },
);
execFileSync(process.execPath, [path.join(out, 'index.js'), ...process.argv.slice(2)], {
  cwd: root,
  stdio: 'inherit',
});
