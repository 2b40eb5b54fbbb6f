import { runWorkflow } from './runner';
import type { EnvironmentSetup, RunOptions } from './types';

const USAGE = `usage: node scripts/run-workflow.mjs <workflow.yml>
  [--input k=v]… [--var K=V]… [--secret K=V]…
  [--approve ENV | --reject ENV]… [--reviewers ENV=login,login] [--reviewer ENV=login]
  [--env-var ENV:K=V]… [--env-secret ENV:K=V]…
  [--repo owner/name=/path/to/git/repo]… [--repository owner/name] [--actor login]
  [--event workflow_dispatch|workflow_call] [--summary-dir DIR] [--node /path/to/node]
exit code: 0 when the run succeeded, 1 when it failed or was cancelled, 2 for a usage error`;

function pair(flag: string, value: string | undefined): [string, string] {
  const eq = value?.indexOf('=') ?? -1;
  if (!value || eq <= 0) throw new Error(`${flag} needs KEY=VALUE, got ${value ?? 'nothing'}`);
  return [value.slice(0, eq), value.slice(eq + 1)];
}

/** Parses the command line into the runner's options. */
export function parseArgs(argv: string[]): RunOptions {
  const options: RunOptions = {
    workflow: '',
    inputs: {},
    vars: {},
    secrets: {},
    environments: {},
    repositories: {},
  };
  const env = (name: string): EnvironmentSetup =>
    (options.environments![name] ??= { reviewers: ['reviewer'] });
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i] ?? '';
    const value = argv[i + 1];
    const take = () => {
      i++;
      if (value === undefined) throw new Error(`${flag} needs a value`);
      return value;
    };
    switch (flag) {
      case '--input': {
        const [k, v] = pair(flag, take());
        options.inputs![k] = v;
        break;
      }
      case '--var': {
        const [k, v] = pair(flag, take());
        options.vars![k] = v;
        break;
      }
      case '--secret': {
        const [k, v] = pair(flag, take());
        options.secrets![k] = v;
        break;
      }
      case '--approve':
        env(take()).decision = 'approve';
        break;
      case '--reject':
        env(take()).decision = 'reject';
        break;
      case '--reviewers': {
        const [k, v] = pair(flag, take());
        env(k).reviewers = v.split(',').filter(Boolean);
        break;
      }
      case '--reviewer': {
        const [k, v] = pair(flag, take());
        env(k).reviewer = v;
        break;
      }
      case '--env-var':
      case '--env-secret': {
        const raw = take();
        const colon = raw.indexOf(':');
        if (colon <= 0) throw new Error(`${flag} needs ENV:KEY=VALUE, got ${raw}`);
        const [k, v] = pair(flag, raw.slice(colon + 1));
        const e = (options.environments![raw.slice(0, colon)] ??= {});
        const target = flag === '--env-var' ? (e.vars ??= {}) : (e.secrets ??= {});
        target[k] = v;
        break;
      }
      case '--repo': {
        const [k, v] = pair(flag, take());
        options.repositories![k] = v;
        break;
      }
      case '--repository':
        options.repository = take();
        break;
      case '--actor':
        options.actor = take();
        break;
      case '--event': {
        const e = take();
        if (e !== 'workflow_dispatch' && e !== 'workflow_call')
          throw new Error(`--event must be workflow_dispatch or workflow_call, got ${e}`);
        options.event = e;
        break;
      }
      case '--summary-dir':
        options.summaryDir = take();
        break;
      case '--node':
        options.node = take();
        break;
      default:
        if (flag.startsWith('-') || options.workflow) throw new Error(`unknown argument ${flag}`);
        options.workflow = flag;
    }
  }
  if (!options.workflow) throw new Error('no workflow file given');
  return options;
}

async function main(): Promise<number> {
  let options: RunOptions;
  try {
    options = parseArgs(process.argv.slice(2));
  } catch (e) {
    process.stderr.write(`${(e as Error).message}\n${USAGE}\n`);
    return 2;
  }
  options.onLog = (job, line) => process.stdout.write(`[${job}] ${line}\n`);
  const result = await runWorkflow(options);
  process.stdout.write('\n');
  for (const job of Object.values(result.jobs)) {
    process.stdout.write(
      `job ${job.id} (${job.name}): ${job.result}${job.reason ? ` (${job.reason})` : ''}\n`,
    );
  }
  for (const call of result.thirdParty)
    process.stdout.write(`recorded ${call.uses} in ${call.job}/${call.step}\n`);
  process.stdout.write(`run ${result.runId}: ${result.conclusion}\n`);
  return result.conclusion === 'success' ? 0 : 1;
}

main().then(
  (code) => process.exit(code),
  (e: unknown) => {
    process.stderr.write(`${e instanceof Error ? e.message : String(e)}\n`);
    process.exit(2);
  },
);
