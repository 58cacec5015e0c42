import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['tests/**/*.test.ts'],
    testTimeout: 30_000,
    hookTimeout: 30_000,
    pool: 'forks',
    // Tests start pvsim processes through bin/pvsim.js: build dist/ first if a source changed.
    globalSetup: ['tests/helpers/build.ts'],
  },
});
