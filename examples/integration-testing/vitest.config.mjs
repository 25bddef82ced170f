import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['tests/vitest/**/*.test.ts'],
    // Starting services takes a moment; each test file gets its own emulator on free ports.
    hookTimeout: 30_000,
    testTimeout: 30_000,
  },
});
