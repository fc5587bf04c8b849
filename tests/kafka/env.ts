// Addresses of the real Kafka broker and schema registry for tests.
//
// tests/kafka-setup.ts (vitest globalSetup) sets KAFKA_BROKERS and SCHEMA_REGISTRY_URL: either the
// values the caller gave, or those of the local stack it started with scripts/kafka/up.sh. A test
// that runs without them fails here, loudly: Kafka tests never skip.
import { randomBytes } from 'node:crypto'

function required(name: 'KAFKA_BROKERS' | 'SCHEMA_REGISTRY_URL'): string {
  const value = process.env[name]?.trim()
  if (!value) {
    throw new Error(
      `${name} is not set. Kafka tests need tests/kafka-setup.ts as vitest globalSetup (it starts the ` +
        `local stack with scripts/kafka/up.sh), or KAFKA_BROKERS and SCHEMA_REGISTRY_URL pointing at a running broker and registry.`,
    )
  }
  return value
}

/** Bootstrap brokers, e.g. ['127.0.0.1:19092'] (KAFKA_BROKERS is comma-separated). */
export function kafkaBrokers(): string[] {
  return required('KAFKA_BROKERS')
    .split(',')
    .map((b) => b.trim())
    .filter((b) => b.length > 0)
}

/** Base URL of the Confluent-compatible registry API, e.g. http://127.0.0.1:18081/apis/ccompat/v7 (no trailing slash). */
export function schemaRegistryUrl(): string {
  return required('SCHEMA_REGISTRY_URL').replace(/\/+$/, '')
}

/** A name unique to this call, for topics, subjects, groups and transactional ids: `${prefix}-<time>-<random>`. */
export function uniqueName(prefix: string): string {
  return `${prefix}-${Date.now().toString(36)}-${randomBytes(4).toString('hex')}`
}
