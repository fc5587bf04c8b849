// Addresses of the real Kafka broker and schema registry for tests.
//
// tests/kafka-setup.ts (vitest globalSetup) sets KAFKA_BROKERS and SCHEMA_REGISTRY_URL: either the
// values the caller gave, or those of the local stack it started with scripts/kafka/up.sh. A test
// that runs without them fails here, loudly: Kafka tests never skip.
import { execFile } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'

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

/** True when the addresses are those of the local stack that scripts/kafka/up.sh manages (not given by the caller). */
export function isLocalStack(): boolean {
  return process.env.FLUXION_KAFKA_LOCAL === '1'
}

/**
 * Restarts the local broker, keeping its data; resolves once it answers again. `crash: true` kills it
 * with SIGKILL instead of a clean shutdown. Only for the local stack (see isLocalStack()): a broker
 * given through KAFKA_BROKERS is not ours to restart, and this throws.
 */
export async function restartBroker(opts: { crash?: boolean } = {}): Promise<void> {
  if (!isLocalStack()) throw new Error('restartBroker() needs the local stack from scripts/kafka/up.sh, not an external KAFKA_BROKERS')
  const script = fileURLToPath(new URL('../../scripts/kafka/restart-broker.sh', import.meta.url))
  await promisify(execFile)('bash', opts.crash ? [script, '--kill'] : [script], { timeout: 5 * 60_000 })
}
