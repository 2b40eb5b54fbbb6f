import { redactUrl, resolveDeep, resolveTemplate, templateProblems } from '../../src/checks/template';
import { clearSecrets, scrub } from '../../src/common/secrets';

describe('templates', () => {
  afterEach(() => clearSecrets());

  test('finds references and bad placeholders', () => {
    expect(templateProblems('== ${checks.goods-count} and ${env.HOME}')).toEqual({
      references: ['goods-count'],
      problems: [],
    });
    expect(templateProblems('${foo}').problems[0]).toMatch(/not a reference/);
    expect(templateProblems('${env.A').problems[0]).toMatch(/not closed/);
  });

  test('resolves env and check values; missing ones are errors', () => {
    const scope = {
      env: { APP_URL: 'http://app' },
      values: new Map<string, unknown>([
        ['n', 2020],
        ['s', 'slug-1'],
        ['none', undefined],
      ]),
    };
    expect(resolveTemplate('${env.APP_URL}/api/v1/products/${checks.s}/', scope)).toBe(
      'http://app/api/v1/products/slug-1/',
    );
    expect(resolveTemplate('== ${checks.n}', scope)).toBe('== 2020');
    expect(() => resolveTemplate('${env.NOPE}', scope)).toThrow('environment variable NOPE is not set');
    expect(() => resolveTemplate('${checks.none}', scope)).toThrow('check "none" has no value');
    expect(resolveDeep({ a: ['${checks.n}'], b: 3 }, scope)).toEqual({ a: ['2020'], b: 3 });
  });

  test('secret-looking variables and URL passwords are masked once used', () => {
    const scope = {
      env: { API_TOKEN: 'tok-123', APP_URL: 'https://user:p%40ss@app.example' },
      values: new Map(),
    };
    resolveTemplate('${env.API_TOKEN} ${env.APP_URL}', scope);
    expect(scrub('tok-123 p%40ss p@ss')).toBe('*** *** ***');
    expect(redactUrl('https://user:p%40ss@app.example/x')).toBe('https://***@app.example/x');
  });
});
