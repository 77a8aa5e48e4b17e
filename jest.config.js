// ESM + ts-jest: PGlite and ora are ESM-only, so jest runs under
// `node --experimental-vm-modules` (see the "test" script).
/** @type {import('jest').Config} */
export default {
  testEnvironment: 'node',
  extensionsToTreatAsEsm: ['.ts'],
  moduleNameMapper: { '^(\\.{1,2}/.*)\\.js$': '$1' },
  transform: {
    '^.+\\.ts$': ['ts-jest', { useESM: true, tsconfig: 'tsconfig.test.json', diagnostics: false }],
  },
  testMatch: ['<rootDir>/test/**/*.test.ts'],
  setupFiles: ['<rootDir>/test/setup-v8.mjs'],
  testTimeout: 60_000,
  // Suites spawn servers and PGlite instances; two cores do not like more than two at once.
  maxWorkers: 2,
};
