// Waits until the local Kafka broker and schema registry answer, for scripts/kafka/up.sh.
//
//   node scripts/kafka/wait.mjs --brokers 127.0.0.1:19092 --registry http://127.0.0.1:18081/apis/ccompat/v7 \
//        [--timeout 180] [--kafka-pid N] [--registry-pid N]
// Without --registry only the broker is waited for (a private broker without a registry).
//
// Ready means: a kafkajs admin's describeCluster() lists a broker and describeGroups() answers (the
// group coordinator is up and loaded), and GET {registry}/subjects
// answers 200 with a JSON array. A given pid that dies fails at once instead of waiting out the
// timeout. Exit codes: 0 ready; bit 1 (2) broker not ready; bit 2 (4) registry not ready; 1 usage.
import { Kafka, logLevel } from 'kafkajs'

function parseArgs(argv) {
  const out = { timeout: 180 }
  for (let i = 0; i < argv.length; i += 2) {
    const key = argv[i].replace(/^--/, '')
    const value = argv[i + 1]
    if (value === undefined) throw new Error(`missing value for ${argv[i]}`)
    out[key] = key === 'timeout' || key.endsWith('pid') ? Number(value) : value
  }
  if (!out.brokers) throw new Error('--brokers is required')
  return out
}

function alive(pid) {
  if (!pid) return true
  try {
    process.kill(pid, 0)
    return true
  } catch {
    return false
  }
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms))

async function brokerReady(brokers) {
  const kafka = new Kafka({
    clientId: 'fluxion-kafka-up',
    brokers: brokers.split(','),
    logLevel: logLevel.NOTHING,
    connectionTimeout: 2000,
    requestTimeout: 5000,
    retry: { retries: 0 },
  })
  const admin = kafka.admin()
  try {
    await admin.connect()
    const cluster = await admin.describeCluster()
    if (cluster.brokers.length === 0) return 'no broker registered yet'
    // Groups must work too: a broker that has just started answers "coordinator not available" or
    // "coordinator is loading" until its offsets topic is created and loaded, and a consumer that
    // joins then may crash right after joining (seen in CI).
    const [group] = (await admin.describeGroups(['fluxion-kafka-up-probe'])).groups
    return group && group.errorCode === 0 ? null : `group coordinator not ready (error code ${group?.errorCode})`
  } catch (err) {
    return err instanceof Error ? err.message : String(err)
  } finally {
    await admin.disconnect().catch(() => {})
  }
}

async function registryReady(url) {
  try {
    const res = await fetch(`${url}/subjects`, { signal: AbortSignal.timeout(5000) })
    if (res.status !== 200) return `GET /subjects answered ${res.status}`
    const body = await res.json()
    return Array.isArray(body) ? null : `GET /subjects answered ${JSON.stringify(body)}`
  } catch (err) {
    return err instanceof Error ? (err.cause?.code ?? err.message) : String(err)
  }
}

async function main() {
  let args
  try {
    args = parseArgs(process.argv.slice(2))
  } catch (err) {
    console.error(`wait.mjs: ${err.message}`)
    return 1
  }
  const started = Date.now()
  const deadline = started + args.timeout * 1000
  const state = {
    broker: { ready: false, why: 'not checked yet', pid: args['kafka-pid'], check: () => brokerReady(args.brokers) },
  }
  if (args.registry) state.registry = { ready: false, why: 'not checked yet', pid: args['registry-pid'], check: () => registryReady(args.registry) }
  for (;;) {
    await Promise.all(
      Object.entries(state).map(async ([name, s]) => {
        if (s.ready || s.dead) return
        if (!alive(s.pid)) {
          s.dead = true
          s.why = `process ${s.pid} exited`
          return
        }
        const why = await s.check()
        if (why === null) {
          s.ready = true
          console.error(`[kafka] ${name} ready after ${((Date.now() - started) / 1000).toFixed(1)}s`)
        } else {
          s.why = why
        }
      }),
    )
    const all = Object.values(state)
    if (all.every((s) => s.ready)) return 0
    if (all.some((s) => s.dead) || Date.now() > deadline) break
    await sleep(500)
  }
  let code = 0
  if (!state.broker.ready) {
    code |= 2
    console.error(`[kafka] broker at ${args.brokers} not ready: ${state.broker.why}`)
  }
  if (state.registry && !state.registry.ready) {
    code |= 4
    console.error(`[kafka] registry at ${args.registry} not ready: ${state.registry.why}`)
  }
  return code
}

process.exit(await main())
