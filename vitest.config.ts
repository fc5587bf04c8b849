import { defineConfig } from 'vitest/config'

export default defineConfig({
  test: {
    include: ['**/*.spec.ts'],
    exclude: ['node_modules/**', 'bench/peers/**'],
    testTimeout: 60_000,
    // Starts the local Kafka broker and schema registry (or uses KAFKA_BROKERS/SCHEMA_REGISTRY_URL).
    globalSetup: ['./tests/kafka-setup.ts'],
    hookTimeout: 120_000,
  },
})
