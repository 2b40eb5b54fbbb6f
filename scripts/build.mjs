// Builds one ncc bundle per action: `node scripts/build.mjs [name…] [--out DIR]`.
// With --out the bundles go to DIR/action-<name>/dist (the check-dist test compares them).
import { execFileSync } from 'node:child_process';
import { rmSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const args = process.argv.slice(2);
const outIndex = args.indexOf('--out');
const outRoot = outIndex >= 0 ? path.resolve(args[outIndex + 1]) : root;
const names = args.filter((a, i) => !a.startsWith('--') && (outIndex < 0 || i !== outIndex + 1));
const all = ['backup', 'migrate', 'validate', 'rollback'];
for (const name of names.length > 0 ? names : all) {
  if (!all.includes(name)) throw new Error(`Unknown action "${name}" (one of ${all.join(', ')}).`);
  const out = path.join(outRoot, `action-${name}`, 'dist');
  rmSync(out, { recursive: true, force: true });
  try {
    execFileSync(
      process.execPath,
      [
        path.join(root, 'node_modules/@vercel/ncc/dist/ncc/cli.js'),
        'build',
        `src/actions/${name}/index.ts`,
        '-o',
        out,
        '--license',
        'licenses.txt',
        '--target',
        'es2022',
        '-q',
      ],
      { cwd: root, stdio: 'inherit' },
    );
  } catch {
    console.error(`ncc failed for action-${name}`);
    process.exit(1);
  }
  console.log(`built action-${name}/dist`);
}
