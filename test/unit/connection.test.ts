import { clearSecrets, scrub } from '../../src/common/secrets';
import {
  childEnv,
  connectionFromEnv,
  connectionFromUrl,
  describeConnection,
} from '../../src/postgres/connection';

const PASSWORD = 'p@ss:w/rd%?#&=+ "q"';
const URL_WITH_PASSWORD = `postgres://app:${encodeURIComponent(PASSWORD)}@db.example:6543/shop?sslmode=require`;

describe('connection settings', () => {
  let stdout: jest.SpyInstance;
  beforeEach(() => {
    clearSecrets();
    stdout = jest.spyOn(process.stdout, 'write').mockImplementation(() => true);
  });
  afterEach(() => stdout.mockRestore());

  it('parses a URL with an encoded password and masks the password, its encoded form and the URL', () => {
    const s = connectionFromUrl(URL_WITH_PASSWORD);
    expect(s).toMatchObject({
      host: 'db.example',
      port: 6543,
      user: 'app',
      database: 'shop',
      password: PASSWORD,
      sslmode: 'require',
    });
    const masked = stdout.mock.calls.map((c) => String(c[0])).filter((l) => l.startsWith('::add-mask::'));
    expect(masked.length).toBeGreaterThanOrEqual(2);
    const text = `error at ${URL_WITH_PASSWORD} with ${PASSWORD} and ${encodeURIComponent(PASSWORD)}`;
    expect(scrub(text)).not.toContain(PASSWORD);
    expect(scrub(text)).not.toContain(encodeURIComponent(PASSWORD));
    expect(scrub(text)).not.toContain('db.example:6543/shop?sslmode');
    expect(describeConnection(s)).toBe('app@db.example:6543/shop');
  });

  it('reads a socket directory from ?host=', () => {
    expect(connectionFromUrl('postgresql://postgres@/shop?host=/var/run/postgresql').host).toBe(
      '/var/run/postgresql',
    );
  });

  it.each([
    ['mysql://a@b/c', 'must start with postgres://'],
    ['not a url', 'is not a valid URL'],
    ['postgres://a@b:0/c', 'port must be 1-65535'],
    ['postgres://a@b/', 'names no database'],
    ['postgres://a@b/c?sslmode=sometimes', 'sslmode must be one of'],
  ])('refuses %s naming the input, never echoing the URL', (url, message) => {
    let error: Error | undefined;
    try {
      connectionFromUrl(url.replace('a@', `a:${encodeURIComponent(PASSWORD)}@`));
    } catch (e) {
      error = e as Error;
    }
    expect(error?.message).toContain('Input "database-url"');
    expect(error?.message).toContain(message);
    expect(error?.message).not.toContain(encodeURIComponent(PASSWORD));
  });

  it('reads the libpq environment', () => {
    const s = connectionFromEnv({
      PGHOST: 'h',
      PGPORT: '5433',
      PGUSER: 'u',
      PGPASSWORD: 'secret-x',
      PGDATABASE: 'd',
      PGPASSFILE: '/p',
    });
    expect(s).toEqual({
      host: 'h',
      port: 5433,
      user: 'u',
      database: 'd',
      password: 'secret-x',
      passfile: '/p',
      sslmode: undefined,
    });
    expect(scrub('pw secret-x')).toBe('pw ***');
  });

  it('gives children credentials by environment, and removes service redirection', () => {
    const env = childEnv(connectionFromUrl(URL_WITH_PASSWORD));
    expect(env).toMatchObject({
      PGHOST: 'db.example',
      PGPORT: '6543',
      PGUSER: 'app',
      PGDATABASE: 'shop',
      PGPASSWORD: PASSWORD,
    });
    expect('PGSERVICE' in env && env.PGSERVICE === undefined).toBe(true);
  });
});
