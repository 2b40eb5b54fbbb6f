import * as core from '@actions/core';

import { serverInfo, withClient } from '../../postgres/client';
import { describeConnection } from '../../postgres/connection';
import { discoverTools } from '../../postgres/tools';
import { setOutput, writeSummary } from '../../report/summary';

import { getInputs } from './inputs';

/** Preflight: connects, reads the server version and finds client tools of the same major. */
export async function run(): Promise<void> {
  const inputs = getInputs();
  const info = await withClient(inputs.connection, serverInfo);
  const tools = await discoverTools(info.major, { binDir: inputs.pgBinDir });
  core.info(`Connected to ${describeConnection(inputs.connection)}: PostgreSQL ${info.version}; tools in ${tools.binDir}`);
  setOutput('server-version', info.version);
  await writeSummary((s) =>
    s.addHeading('Preflight', 2).addTable([
      [{ data: 'Server', header: true }, { data: 'Tools', header: true }],
      [info.version, tools.binDir],
    ]),
  );
}
