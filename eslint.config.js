import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['dist/**', 'dist-lambda/**', 'core/db/generated/**', 'node_modules/**', 'coverage/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: {
      globals: {
        process: 'readonly',
        console: 'readonly',
        Buffer: 'readonly',
        setTimeout: 'readonly',
        clearTimeout: 'readonly',
        setInterval: 'readonly',
        clearInterval: 'readonly',
        URL: 'readonly',
        fetch: 'readonly',
      },
    },
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/no-floating-promises': 'off',
    },
  },
  {
    // The dashboard: plain ES modules that run in the browser.
    files: ['web/**/*.js'],
    languageOptions: {
      globals: Object.fromEntries(
        [
          'window',
          'document',
          'location',
          'history',
          'sessionStorage',
          'localStorage',
          'Node',
          'URLSearchParams',
          'AbortController',
          'TextDecoder',
          'FormData',
          'XMLHttpRequest',
          'CustomEvent',
          'MutationObserver',
          'performance',
          'requestAnimationFrame',
        ].map((g) => [g, 'readonly']),
      ),
    },
  },
  {
    // Tests inspect loosely typed JSON responses.
    files: ['test/**/*.ts'],
    rules: { '@typescript-eslint/no-explicit-any': 'off' },
  },
  {
    // Benches are plain Node scripts that time things.
    files: ['bench/**/*.mjs'],
    languageOptions: { globals: { performance: 'readonly', AbortController: 'readonly' } },
  },
);
