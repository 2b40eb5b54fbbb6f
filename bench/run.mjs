// Bundles a benchmark written in TypeScript (it imports the test harness and src/) with ncc, and runs it:
//   node bench/run.mjs backup   [--size-mb 200]     (~1 GB: --size-mb 1000, a few minutes more)
//   node bench/run.mjs rollback [--size-mb 200]
// The action is run from its bundle: rebuild it first (node scripts/build.mjs <name>). Type checks are
// left to tsc, so an unrelated type error elsewhere does not stop a measurement.
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const [name, ...args] = process.argv.slice(2);
if (!name || !existsSync(path.join(root, 'bench', name, 'bench.ts'))) {
  console.error('usage: node bench/run.mjs <backup|rollback|closed-window> [--size-mb N]');
  process.exit(2);
}
const out = path.join(root, '.tmp', `bench-${name}`);
const ncc = path.join(root, 'node_modules/@vercel/ncc/dist/ncc/cli.js');
execFileSync(
  process.execPath,
  [ncc, 'build', `bench/${name}/bench.ts`, '-o', out, '-q', '--transpile-only'],
  {
    cwd: root,
    stdio: 'inherit',
  },
);
execFileSync(process.execPath, [path.join(out, 'index.js'), ...args], { cwd: root, stdio: 'inherit' });
