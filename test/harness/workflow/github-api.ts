import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

import { githubEnvironment, githubUser } from '../github-shapes';

import type { Review } from './types';

/**
 * The part of GitHub's REST API a run's steps read, answering what GitHub answers: the reviews of
 * this run's deployments (`GET /repos/{owner}/{repo}/actions/runs/{run_id}/approvals`) and the run
 * itself. A wrong token gets GitHub's 401.
 */
export async function startGitHubApi(options: {
  repository: string;
  runId: number;
  token: string;
  actor: string;
  reviews: Review[];
}): Promise<{ url: string; close: () => Promise<void>; requests: string[] }> {
  const requests: string[] = [];
  const base = `/repos/${options.repository}/actions/runs/${options.runId}`;
  const server: Server = createServer((req, res) => {
    requests.push(`${req.method ?? ''} ${req.url ?? ''}`);
    const send = (status: number, body: unknown) => {
      res.writeHead(status, { 'content-type': 'application/json; charset=utf-8' });
      res.end(JSON.stringify(body));
    };
    const auth = req.headers.authorization ?? '';
    if (auth !== `token ${options.token}` && auth !== `Bearer ${options.token}`) {
      send(401, { message: 'Bad credentials', documentation_url: 'https://docs.github.com/rest' });
      return;
    }
    const url = (req.url ?? '').split('?')[0];
    if (req.method === 'GET' && url === `${base}/approvals`) {
      send(
        200,
        options.reviews.map((r) => ({
          environments: r.environments.map((name, i) => githubEnvironment(name, i, options.repository)),
          state: r.state,
          comment: r.comment,
          user: githubUser(r.user),
        })),
      );
      return;
    }
    if (req.method === 'GET' && url === base) {
      send(200, {
        id: options.runId,
        actor: githubUser(options.actor),
        triggering_actor: githubUser(options.actor),
        status: 'in_progress',
      });
      return;
    }
    send(404, { message: 'Not Found', documentation_url: 'https://docs.github.com/rest' });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
