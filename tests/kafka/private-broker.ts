// A second, private Kafka broker for tests that stop and start a broker: its own ports and data
// directory, started with scripts/kafka/up.sh (FLUXION_KAFKA_STATE, FLUXION_KAFKA_PORT,
// FLUXION_KAFKA_CONTROLLER_PORT, FLUXION_KAFKA_REGISTRY=0). The shared broker of the other tests
// (127.0.0.1:19092) is never touched.
import { execFile } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'

const SCRIPTS = fileURLToPath(new URL('../../scripts/kafka/', import.meta.url))
const run = promisify(execFile)

/** A port that was free a moment ago. */
async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer()
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number }
      server.close(() => resolve(port))
    })
  })
}

export interface PrivateBroker {
  brokers: string[]
  /** Stops the broker, keeping its data: SIGTERM, or SIGKILL with `crash`. */
  stop(opts?: { crash?: boolean }): Promise<void>
  /** Starts it again; resolves when it answers. */
  start(): Promise<void>
  /** Stops it and deletes its data. */
  destroy(): Promise<void>
}

export async function startPrivateBroker(): Promise<PrivateBroker> {
  const state = mkdtempSync(join(tmpdir(), 'fluxion-private-kafka-'))
  const port = await freePort()
  let controller = await freePort()
  while (controller === port) controller = await freePort()
  const env = { ...process.env, FLUXION_KAFKA_STATE: state, FLUXION_KAFKA_PORT: String(port), FLUXION_KAFKA_CONTROLLER_PORT: String(controller), FLUXION_KAFKA_REGISTRY: '0' }
  const script = (name: string, ...args: string[]) => run('bash', [join(SCRIPTS, name), ...args], { env, timeout: 3 * 60_000 })
  const broker: PrivateBroker = {
    brokers: [`127.0.0.1:${port}`],
    stop: async (opts = {}) => {
      await script('restart-broker.sh', ...(opts.crash ? ['--kill'] : []), '--stop')
    },
    start: async () => {
      await script('up.sh')
    },
    destroy: async () => {
      await script('down.sh').catch(() => {})
      rmSync(state, { recursive: true, force: true })
    },
  }
  try {
    await broker.start()
  } catch (e) {
    await broker.destroy()
    throw e
  }
  return broker
}
