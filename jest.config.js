// ESM + ts-jest: PGlite and ora are ESM-only, so jest runs under
// `node --experimental-vm-modules` (see the "test" script).
/** @type {import('jest').Config} */
const base = {
  testEnvironment: 'node',
  extensionsToTreatAsEsm: ['.ts'],
  moduleNameMapper: { '^(\\.{1,2}/.*)\\.js$': '$1' },
  transform: {
    '^.+\\.ts$': ['ts-jest', { useESM: true, tsconfig: 'tsconfig.test.json', diagnostics: false }],
  },
  // A deadline for a stuck test, not a timing: generous, so a loaded machine does not fail a test
  // that is only slow (the helpers' own deadlines, up to 90 s, fire first with a clearer message).
  // The test entry point's V8 settings (as `jobs server` sets its own).
  setupFiles: ['<rootDir>/test/setup-v8.mjs'],
  testTimeout: 120_000,
};

const BROWSER = '<rootDir>/test/e2e/dashboard*.test.ts';

/**
 * `npm test` runs every project; one or more run alone with `--selectProjects`, e.g.
 * `npm test -- --selectProjects unit api`:
 * - unit: modules in-process (adapters against PGlite/PostgreSQL and fauxqs, the CLI, stacks);
 * - api: the HTTP API over real HTTP, composed as `jobs server` composes it;
 * - e2e: real `jobs server` / `jobs worker` processes, kills and outages;
 * - browser: the dashboard in Chromium.
 */
export default {
  testTimeout: base.testTimeout,
  // Suites spawn servers and PGlite instances; two cores do not like more than two at once.
  maxWorkers: 2,
  projects: [
    {
      ...base,
      displayName: 'unit',
      testMatch: ['<rootDir>/test/{cli,compose,core,processor,stacks,helpers}/**/*.test.ts'],
    },
    { ...base, displayName: 'api', testMatch: ['<rootDir>/test/server/**/*.test.ts'] },
    {
      ...base,
      displayName: 'e2e',
      testMatch: ['<rootDir>/test/e2e/**/*.test.ts'],
      testPathIgnorePatterns: ['/node_modules/', '/test/e2e/dashboard[^/]*\\.test\\.ts$'],
    },
    { ...base, displayName: 'browser', testMatch: [BROWSER] },
  ],
};
