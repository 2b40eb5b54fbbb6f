import path from 'node:path';

import importX from 'eslint-plugin-import-x';
import tseslint from 'typescript-eslint';

/** File names are kebab-case, so imports read the same on every file system. */
const kebabCase = {
  meta: { type: 'suggestion', schema: [] },
  create(context) {
    return {
      Program(node) {
        const base = path.basename(context.filename).replace(/(\.test|\.itg)?\.[cm]?[jt]s$/, '');
        if (!/^[a-z0-9]+(-[a-z0-9]+)*$/.test(base)) {
          context.report({ node, message: `File name "${base}" is not kebab-case.` });
        }
      },
    };
  },
};

/**
 * The layers: a folder under src/ may import only the folders listed for it (and itself); see
 * docs/development.md. `actions/*` may import everything; nothing imports `actions/*`.
 */
const layers = {
  manifest: ['common'],
  storage: ['common', 'manifest', 'process', 'report'],
  postgres: ['common', 'manifest', 'process', 'report'],
  checks: ['common', 'manifest', 'postgres', 'commerceml', 'process', 'report'],
  pgbackrest: ['common', 'manifest', 'postgres', 'process'],
};
const folders = [
  'actions',
  'common',
  'manifest',
  'storage',
  'postgres',
  'checks',
  'pgbackrest',
  'commerceml',
  'process',
  'report',
];
const layerRules = Object.entries(layers).map(([folder, allowed]) => ({
  files: [`src/${folder}/**/*.ts`],
  rules: {
    'no-restricted-imports': [
      'error',
      {
        patterns: folders
          .filter((f) => f !== folder && !allowed.includes(f))
          .map((f) => ({
            group: [`**/${f}`, `**/${f}/*`, `**/${f}/**`],
            message: `src/${folder}/ may import only ${allowed.join(', ')} (the layers in docs/development.md).`,
          })),
      },
    ],
  },
}));

export default tseslint.config(
  {
    ignores: [
      'action-*/dist/**',
      'node_modules/**',
      'coverage/**',
      'examples/**',
      'bench/**',
      '**/*.js',
      '**/*.mjs',
    ],
  },
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: { parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname } },
    plugins: { 'import-x': importX, local: { rules: { 'kebab-case': kebabCase } } },
    rules: {
      'local/kebab-case': 'error',
      'import-x/no-cycle': 'error',
      'import-x/order': [
        'error',
        {
          groups: ['builtin', 'external', 'internal', 'parent', 'sibling'],
          'newlines-between': 'always',
          alphabetize: { order: 'asc' },
        },
      ],
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_' }],
      'no-restricted-imports': [
        'error',
        { patterns: [{ group: ['**/actions/*'], message: 'Domain modules never import actions/*.' }] },
      ],
    },
  },
  ...layerRules,
  {
    files: ['src/actions/**/*.ts'],
    rules: { 'no-restricted-imports': 'off' },
  },
  {
    files: ['test/**/*.ts'],
    rules: {
      'no-restricted-imports': 'off',
      '@typescript-eslint/no-unsafe-assignment': 'off',
      '@typescript-eslint/no-unsafe-member-access': 'off',
      '@typescript-eslint/unbound-method': 'off',
    },
  },
);
