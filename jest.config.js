// ts-jest compiles to CommonJS for the tests; ncc bundles the same sources for the actions.
const tsJest = [
  'ts-jest',
  { tsconfig: { module: 'commonjs', moduleResolution: 'node', isolatedModules: true, allowJs: true } },
];
// GitHub's workflow parser ships ESM only (and imports JSON without import attributes): compile it
// to CommonJS with the tests instead of loading it as ESM.
const esmOnly = ['@actions/workflow-parser', '@actions/expressions'];
const common = {
  testEnvironment: 'node',
  transform: { '^.+\\.ts$': tsJest, [`node_modules/(${esmOnly.join('|')})/.+\\.js$`]: tsJest },
  transformIgnorePatterns: [`/node_modules/(?!(${esmOnly.join('|')})/)`],
  // Their package.json "exports" have only an "import" condition; point require() at the files.
  moduleNameMapper: {
    '^@actions/(workflow-parser|expressions)$': '<rootDir>/node_modules/@actions/$1/dist/index.js',
    '^@actions/(workflow-parser|expressions)/(.+)$': '<rootDir>/node_modules/@actions/$1/dist/$2.js',
  },
};

/** @type {import('jest').Config} */
module.exports = {
  projects: [
    { ...common, displayName: 'unit', testMatch: ['<rootDir>/test/unit/**/*.test.ts'] },
    { ...common, displayName: 'integration', testMatch: ['<rootDir>/test/integration/**/*.test.ts'] },
    { ...common, displayName: 'e2e', testMatch: ['<rootDir>/test/e2e/**/*.test.ts'] },
  ],
  testTimeout: 120000,
};
