import { defineConfig } from 'vitest/config'

export default defineConfig({
  test: {
    include: ['**/*.spec.ts'],
    exclude: ['node_modules/**', 'bench/peers/**'],
    testTimeout: 60_000,
    hookTimeout: 120_000,
  },
})
