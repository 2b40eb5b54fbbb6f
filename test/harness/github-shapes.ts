// The objects GitHub's REST API returns, for the local stand-ins of its API in tests.

/** A user object as GitHub's REST API returns it. */
export const githubUser = (login: string): Record<string, unknown> => {
  const id = [...login].reduce((h, c) => (h * 31 + c.charCodeAt(0)) % 1_000_000, 7);
  return {
    login,
    id,
    node_id: `MDQ6VXNlcj${id}`,
    avatar_url: `https://avatars.githubusercontent.com/u/${id}?v=4`,
    gravatar_id: '',
    url: `https://api.github.com/users/${login}`,
    html_url: `https://github.com/${login}`,
    type: 'User',
    site_admin: false,
  };
};

/** An environment object as GitHub's REST API returns it. */
export const githubEnvironment = (
  name: string,
  index: number,
  repository = 'shop/freesport',
): Record<string, unknown> => ({
  id: 161088068 + index,
  node_id: `MDExOkVudmlyb25tZW50MTYxMDg4MDY${index}`,
  name,
  url: `https://api.github.com/repos/${repository}/environments/${name}`,
  html_url: `https://github.com/${repository}/deployments/activity_log?environments_filter=${name}`,
  created_at: '2025-11-23T22:00:40Z',
  updated_at: '2025-11-23T22:00:40Z',
});
