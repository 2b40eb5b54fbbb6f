import { getInputs as backupInputs } from '../../src/actions/backup/inputs';
import { getInputs as rollbackInputs } from '../../src/actions/rollback/inputs';

const URL = 'postgres://u:pw@127.0.0.1:5433/shop';

function withInputs<T>(inputs: Record<string, string>, fn: () => T): T {
  const saved = { ...process.env };
  for (const [k, v] of Object.entries(inputs)) process.env[`INPUT_${k.toUpperCase()}`] = v;
  try {
    return fn();
  } finally {
    process.env = saved;
  }
}

describe('engine pgbackrest inputs', () => {
  it('needs a stanza, a valid one, and a known backup type', () => {
    const base = { 'database-url': URL, engine: 'pgbackrest' };
    expect(() => withInputs(base, backupInputs)).toThrow(
      'Input "pgbackrest-stanza" is required with engine: pgbackrest.',
    );
    expect(() => withInputs({ ...base, 'pgbackrest-stanza': '--repo1-path=/x' }, backupInputs)).toThrow(
      'Input "pgbackrest-stanza" is not a stanza name: "--repo1-path=/x".',
    );
    expect(() =>
      withInputs({ ...base, 'pgbackrest-stanza': 'main', 'pgbackrest-backup-type': 'weekly' }, backupInputs),
    ).toThrow(/pgbackrest-backup-type/);
    expect(() =>
      withInputs({ ...base, 'pgbackrest-stanza': 'main', 's3-uri': 's3://bucket/p/' }, backupInputs),
    ).toThrow('Input "s3-uri" does not apply to engine: pgbackrest');
    const ok = withInputs(
      { ...base, 'pgbackrest-stanza': 'main', 'pgbackrest-backup-type': 'incr' },
      backupInputs,
    );
    expect(ok.kind === 'backup' && ok.inputs.pgbackrest).toEqual({
      stanza: 'main',
      config: undefined,
      backupType: 'incr',
      evidence: 'now',
    });
    const bg = withInputs({ ...base, 'pgbackrest-stanza': 'main', evidence: 'background' }, backupInputs);
    expect(bg.kind === 'backup' && bg.inputs.pgbackrest?.evidence).toBe('background');
    expect(() =>
      withInputs({ ...base, 'pgbackrest-stanza': 'main', evidence: 'later' }, backupInputs),
    ).toThrow(/Input "evidence".*later/);
    expect(() => withInputs({ 'database-url': URL, evidence: 'background' }, backupInputs)).toThrow(
      'Input "evidence" applies to engine: pgbackrest only',
    );
  });
});

describe('strategy pitr inputs', () => {
  const base = { 'database-url': URL, manifest: '/srv/m.manifest.json', strategy: 'pitr' };

  it('needs pgdata and a local manifest; the side goes beside pgdata on the next port', () => {
    expect(() => withInputs(base, rollbackInputs)).toThrow('Input required and not supplied: pgdata');
    expect(() =>
      withInputs({ ...base, manifest: 's3://bucket/m.manifest.json', pgdata: '/srv/pg' }, rollbackInputs),
    ).toThrow('Input "manifest" must be a local path with strategy: pitr');
    const i = withInputs({ ...base, pgdata: '/srv/pg' }, rollbackInputs);
    expect(i.pitr).toMatchObject({
      pgdata: '/srv/pg',
      sidePgdata: '/srv/pg.pitr-side',
      sidePort: 5434,
      scope: 'database',
    });
    expect(() => withInputs({ ...base, pgdata: '/srv/pg', scope: 'all' }, rollbackInputs)).toThrow(
      /Input "scope"/,
    );
    expect(() => withInputs({ ...base, pgdata: '/srv/pg', 'side-port': '0' }, rollbackInputs)).toThrow(
      /side-port/,
    );
  });

  it('takes pgbackrest-process-max 1..64, refused by name with its value otherwise', () => {
    const pitr = { ...base, pgdata: '/srv/pg' };
    expect(withInputs(pitr, rollbackInputs).pitr?.processMax).toBeUndefined();
    expect(withInputs({ ...pitr, 'pgbackrest-process-max': '4' }, rollbackInputs).pitr?.processMax).toBe(4);
    expect(() => withInputs({ ...pitr, 'pgbackrest-process-max': '0' }, rollbackInputs)).toThrow(
      'Input "pgbackrest-process-max" must be between 1 and 64, got "0".',
    );
    expect(() => withInputs({ ...pitr, 'pgbackrest-process-max': '65' }, rollbackInputs)).toThrow(
      'Input "pgbackrest-process-max" must be between 1 and 64, got "65".',
    );
    expect(() => withInputs({ ...pitr, 'pgbackrest-process-max': '2; rm -rf /' }, rollbackInputs)).toThrow(
      'Input "pgbackrest-process-max" must be an integer, got "2; rm -rf /".',
    );
  });
});
