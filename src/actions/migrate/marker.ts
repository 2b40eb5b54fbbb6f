import * as core from '@actions/core';

import { errorMessage } from '../../common/errors';
import { quoteIdent, withClient, type Client } from '../../postgres/client';
import type { ConnectionSettings } from '../../postgres/connection';

const TOOL = 'migration-guard migrate';

/**
 * What a migration window records on the server while it runs, in the target database's comment:
 * who runs, since when, which step. It is removed (the previous comment put back) when the run
 * reports, success or failure; a run killed without a chance to report (SIGKILL, a lost runner)
 * leaves it, and the next run says so. It lives on the server because the next run may be on
 * another runner.
 */
interface RunMarker {
  tool: typeof TOOL;
  run: string;
  startedAt: string;
  /** The step or hook running, if any. */
  current?: string;
  /** Whether a step had started (the database may be half-migrated). */
  stepsStarted: boolean;
  /** The database's comment before the run, put back when it ends. */
  previousComment: string | null;
}

async function comment(client: Client, database: string): Promise<string | null> {
  const r = await client.query<{ c: string | null }>(
    "SELECT shobj_description(oid, 'pg_database') AS c FROM pg_database WHERE datname = $1",
    [database],
  );
  return r.rows[0]?.c ?? null;
}

function parse(text: string | null): RunMarker | undefined {
  if (!text?.startsWith('{')) return undefined;
  try {
    const m = JSON.parse(text) as Partial<RunMarker>;
    return m.tool === TOOL && typeof m.run === 'string' ? (m as RunMarker) : undefined;
  } catch {
    return undefined;
  }
}

async function setComment(client: Client, database: string, text: string | null): Promise<void> {
  await client.query(
    `COMMENT ON DATABASE ${quoteIdent(database)} IS ${text === null ? 'NULL' : client.escapeLiteral(text)}`,
  );
}

/** The marker of this run: written at the start, updated at each command, removed at the end. */
export class RunMarkerWriter {
  private marker?: RunMarker;
  private writing: Promise<void> = Promise.resolve();

  constructor(
    private readonly settings: ConnectionSettings,
    private readonly run: string,
  ) {}

  /**
   * Reads what an earlier run left (a run that never reported) and writes this run's marker.
   * Returns a description of the earlier run, if one was left. A role that may not comment on
   * the database (not its owner) only gets a warning: the run goes on unrecorded.
   */
  async start(): Promise<string | undefined> {
    const db = this.settings.database;
    try {
      return await withClient(this.settings, async (c) => {
        const text = await comment(c, db);
        const earlier = parse(text);
        this.marker = {
          tool: TOOL,
          run: this.run,
          startedAt: new Date().toISOString(),
          stepsStarted: false,
          previousComment: earlier ? earlier.previousComment : text,
        };
        await setComment(c, db, JSON.stringify(this.marker));
        if (!earlier) return undefined;
        const where = earlier.current ? `during "${earlier.current}"` : 'before its first command';
        return (
          `An earlier migration run (${earlier.run}, started ${earlier.startedAt}) ended without a report, ${where}: it was killed. ` +
          (earlier.stepsStarted
            ? 'A step had started: the database may be half-migrated, maintenance may still be on and workers stopped.'
            : 'No step had started; maintenance may still be on and workers stopped.')
        );
      });
    } catch (error) {
      this.marker = undefined;
      core.warning(
        `This run is not recorded on the server (the next run could not tell that it was killed): ${errorMessage(error)}`,
      );
      return undefined;
    }
  }

  /** Records the command about to run, before it runs (errors only warn). */
  async update(current: string | undefined, stepsStarted: boolean): Promise<void> {
    if (!this.marker) return;
    this.marker = { ...this.marker, current, stepsStarted: this.marker.stepsStarted || stepsStarted };
    const text = JSON.stringify(this.marker);
    this.writing = this.writing
      .then(() => withClient(this.settings, (c) => setComment(c, this.settings.database, text)))
      .catch((error: unknown) => core.warning(`Could not record the run's progress: ${errorMessage(error)}`));
    await this.writing;
  }

  /** The run reported: the marker is removed and the previous comment put back. */
  async finish(): Promise<void> {
    if (!this.marker) return;
    const previous = this.marker.previousComment;
    this.marker = undefined;
    await this.writing;
    await withClient(this.settings, (c) => setComment(c, this.settings.database, previous)).catch(
      (error: unknown) =>
        core.warning(`Could not remove the run's marker from the database's comment: ${errorMessage(error)}`),
    );
  }
}
