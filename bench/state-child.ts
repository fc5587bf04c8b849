/**
 * Runs ONE step of the state and checkpoint benchmarks in this process and prints one result line
 * (`BENCH_RESULT {…}`, as bench/pipeline.ts). bench/state.ts starts it in a fresh child process per
 * step; by hand:
 *
 *   node --import tsx bench/state-child.ts --task throughput --pipeline hop-window --backend rocksdb --events 400000 --work-dir /tmp/x
 *   node --import tsx bench/state-child.ts --task build --backend memory --keys 1000000 --work-dir /tmp/x
 *   node --import tsx bench/state-child.ts --task update --backend memory --keys 1000000 --restore <savepoint> --work-dir /tmp/x
 *   node --import tsx bench/state-child.ts --task restore --backend rocksdb --keys 1000000 --value-bytes 1000 --restore <savepoint> --work-dir /tmp/x
 *
 * Tasks:
 *  - throughput: one window pipeline (bench/state-jobs.ts) to the end of its input, checkpointing
 *    every --interval-ms (0: no checkpoints);
 *  - build: loads --keys keys into a ValueState each (a --value-bytes string, or a counter), then
 *    takes a savepoint and cancels the job; reports the savepoint's path and size;
 *  - update: restores a savepoint of `build` and updates --rate distinct keys per second, paced,
 *    checkpointing every --interval-ms, until --checkpoints incremental checkpoints completed;
 *    reports every checkpoint's stats (JobClient.checkpointStats()), the rows in its files, and the
 *    latency of the paced records;
 *  - restore: times a new job that restores a savepoint of `build` (no checkpointing): from
 *    execute() to the first record at the keyed function, and to the end of the job (a bounded
 *    probe source reads --probes keys back and checks them).
 */
import { readdirSync, readFileSync, statSync } from 'node:fs'
import { loadavg } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { unframe } from '../engine/checkpoint/state-file.ts'
import { StreamExecutionEnvironment, type CheckpointStats, type JobClient } from '../index.ts'
import { RESULT_PREFIX } from './result.ts'
import {
  KeyLoadSource,
  PacedUpdateSource,
  ProbeSource,
  buildValueJob,
  envOptions,
  newProbe,
  payloadOf,
  valueStateFunction,
  windowPipeline,
  type Backend,
} from './state-jobs.ts'
import { quantile, round } from './stats.ts'
import { writeSourceMaps } from './source-maps.ts'

const MB = 1024 * 1024
/** A checkpoint interval long enough that no periodic checkpoint happens (build: only the savepoint). */
const NEVER_MS = 3_600_000

const { values: args } = parseArgs({
  options: {
    task: { type: 'string' },
    backend: { type: 'string', default: 'memory' },
    'work-dir': { type: 'string' },
    pipeline: { type: 'string' },
    events: { type: 'string' },
    'interval-ms': { type: 'string', default: '1000' },
    keys: { type: 'string', default: '1000000' },
    'value-bytes': { type: 'string', default: '0' },
    restore: { type: 'string' },
    rate: { type: 'string', default: '10000' },
    checkpoints: { type: 'string', default: '12' },
    'compact-after': { type: 'string' },
    probes: { type: 'string', default: '1000' },
    'source-maps-out': { type: 'string' },
  },
  strict: true,
})

function num(name: keyof typeof args, min = 0): number {
  const text = args[name]
  const n = Number(String(text).replace(/_/g, ''))
  if (text === undefined || !Number.isFinite(n) || n < min) throw new Error(`--${name} must be a number >= ${min}, got "${String(text)}"`)
  return n
}

function required(name: keyof typeof args): string {
  const v = args[name]
  if (typeof v !== 'string' || v === '') throw new Error(`--${name} is required for --task ${args.task}`)
  return v
}

const backend = args.backend as Backend
if (backend !== 'memory' && backend !== 'rocksdb') throw new Error(`--backend must be memory or rocksdb, got "${args.backend}"`)
const workDir = required('work-dir')
const stateDir = join(workDir, 'rocksdb')

/** Resolves when `done()` holds; rejects if the job ends first. Polls every 5 ms (the executor yields every ~5 ms). */
async function waitFor(client: JobClient, done: () => boolean, what: string): Promise<void> {
  let ended: unknown = undefined
  client.result.then(
    () => (ended = new Error(`the job ended before ${what}`)),
    (e: unknown) => (ended = e),
  )
  while (!done()) {
    if (ended !== undefined) throw ended
    await new Promise((r) => setTimeout(r, 5))
  }
}

async function cancelAndWait(client: JobClient): Promise<void> {
  client.cancel()
  try {
    await client.result
  } catch (e) {
    if ((e as { code?: string }).code !== 'FLX_JOB_CANCELLED') throw e
  }
}

/** Total size of the files in a directory (recursively), in bytes. */
function dirBytes(dir: string): number {
  let total = 0
  for (const f of readdirSync(dir, { recursive: true, encoding: 'utf8' })) {
    const s = statSync(join(dir, f))
    if (s.isFile()) total += s.size
  }
  return total
}

/** Rows (keyed-state entries) in the state files a checkpoint wrote (compaction bases excluded). */
function rowsWritten(checkpointDir: string): number {
  let rows = 0
  for (const f of readdirSync(checkpointDir)) {
    if (!f.endsWith('.state') || f.endsWith('.base.state') || f.startsWith('restored-')) continue
    const snap = unframe(readFileSync(join(checkpointDir, f)), f) as {
      operators: Record<string, { keyed?: { states: Record<string, { rows: unknown[] }> } }>
    }
    for (const op of Object.values(snap.operators)) for (const st of Object.values(op.keyed?.states ?? {})) rows += st.rows.length
  }
  return rows
}

const summarize = (xs: number[]) => ({
  p50Ms: round(quantile(xs, 0.5), 3),
  p99Ms: round(quantile(xs, 0.99), 3),
  p999Ms: round(quantile(xs, 0.999), 3),
  maxMs: round(quantile(xs, 1), 3),
  samples: xs.length,
})

// ---------------------------------------------------------------------------------------------

async function throughput(): Promise<Record<string, unknown>> {
  const pipeline = windowPipeline(required('pipeline'))
  const events = args.events === undefined ? pipeline.defaultEvents : num('events', 1)
  const intervalMs = num('interval-ms')
  const env = StreamExecutionEnvironment.create(envOptions(backend, stateDir, intervalMs > 0 ? { intervalMs, dir: join(workDir, 'checkpoints') } : undefined))
  const counter = { count: 0 }
  pipeline.build(env, events, counter)
  const started = performance.now()
  const client = env.executeAsync(`bench-${pipeline.name}`)
  await client.result
  const elapsedMs = performance.now() - started
  const stats = client.checkpointStats().filter((s) => !s.savepoint)
  return {
    pipeline: pipeline.name,
    events,
    sinkRecords: counter.count,
    elapsedMs: round(elapsedMs, 1),
    eventsPerSecond: Math.round((events * 1000) / elapsedMs),
    checkpointIntervalMs: intervalMs,
    checkpoints: stats.length,
    checkpointMaxSyncMsMedian: round(quantile(stats.map((s) => s.maxSyncMs), 0.5), 3),
    checkpointMaxSyncMsMax: round(quantile(stats.map((s) => s.maxSyncMs), 1), 3),
    checkpointBytesMedian: quantile(stats.map((s) => s.bytes), 0.5),
    checkpointDurationMsMedian: round(quantile(stats.map((s) => s.durationMs), 0.5), 1),
  }
}

async function build(): Promise<Record<string, unknown>> {
  const keys = num('keys', 1)
  const valueBytes = num('value-bytes')
  const ckptDir = join(workDir, 'build-checkpoints')
  const env = StreamExecutionEnvironment.create(envOptions(backend, stateDir, { intervalMs: NEVER_MS, dir: ckptDir }))
  const probe = newProbe()
  buildValueJob(env, new KeyLoadSource(keys, valueBytes > 0 ? payloadOf(valueBytes) : undefined), valueStateFunction(probe))
  const started = performance.now()
  const client = env.executeAsync('state-bench')
  await waitFor(client, () => probe.processed >= keys, `${keys} keys were loaded`)
  const loadMs = performance.now() - started
  const heapUsedMb = process.memoryUsage().heapUsed / MB
  const t = performance.now()
  const savepoint = await client.triggerSavepoint()
  const savepointMs = performance.now() - t
  const stats = client.checkpointStats().find((s) => s.savepoint)
  await cancelAndWait(client)
  return {
    keys,
    valueBytes,
    loadMs: round(loadMs, 1),
    loadKeysPerSecond: Math.round((keys * 1000) / loadMs),
    heapUsedAfterLoadMb: round(heapUsedMb, 1),
    savepointMs: round(savepointMs, 1),
    savepointMaxSyncMs: stats ? round(stats.maxSyncMs, 3) : null,
    savepointStatBytes: stats?.bytes ?? null,
    savepointRows: stats?.rows ?? rowsWritten(savepoint.path),
    savepointPath: savepoint.path,
    savepointBytes: dirBytes(savepoint.path),
  }
}

async function update(): Promise<Record<string, unknown>> {
  const keys = num('keys', 1)
  const rate = num('rate', 1)
  const intervalMs = num('interval-ms', 1)
  const wanted = num('checkpoints', 1)
  const restoreFrom = required('restore')
  const ckptDir = join(workDir, 'update-checkpoints')
  const compactAfter = args['compact-after'] === undefined ? undefined : num('compact-after', 1)
  const env = StreamExecutionEnvironment.create(
    envOptions(backend, stateDir, { intervalMs, dir: ckptDir, retain: 10_000, ...(compactAfter === undefined ? {} : { compactAfter }) }),
  )
  const probe = newProbe()
  buildValueJob(env, new PacedUpdateSource(keys, rate), valueStateFunction(probe))
  const started = performance.now()
  const client = env.executeAsync('state-bench', { restoreFrom })
  // When each checkpoint's stats appeared (≈ when it completed), on the performance.now() clock.
  const seenAt = new Map<number, number>()
  const regular = () => client.checkpointStats().filter((s) => !s.savepoint)
  await waitFor(
    client,
    () => {
      const now = performance.now()
      const stats = regular()
      for (const s of stats) if (!seenAt.has(s.checkpointId)) seenAt.set(s.checkpointId, now)
      return stats.filter((s) => s.incremental).length >= wanted
    },
    `${wanted} incremental checkpoints completed`,
  )
  const elapsedMs = performance.now() - started
  await cancelAndWait(client)
  const stats: (CheckpointStats & { rows?: number; completedAtMs?: number })[] = regular()
  for (const s of stats) {
    // The stats count the rows each checkpoint wrote; its directory may also hold files it did not
    // write (compacted bases, savepoint files linked in after a restore).
    s.rows ??= rowsWritten(join(ckptDir, `chk-${s.checkpointId}`))
    s.completedAtMs = round((seenAt.get(s.checkpointId) ?? Number.NaN) - started, 1)
  }
  const full = stats.find((s) => !s.incremental)
  const incremental = stats.filter((s) => s.incremental)
  // Latency of the paced records: all of them, and those due after the full checkpoint completed.
  const fullDoneAt = started + (full?.completedAtMs ?? 0)
  const afterFull: number[] = []
  for (let i = 0; i < probe.latencies.length; i++) if (probe.scheduled[i] >= fullDoneAt) afterFull.push(probe.latencies[i])
  const sync = incremental.map((s) => s.maxSyncMs)
  const bytes = incremental.map((s) => s.bytes)
  const rows = incremental.map((s) => s.rows!)
  return {
    keys,
    updatesPerSecond: rate,
    checkpointIntervalMs: intervalMs,
    compactAfter: compactAfter ?? 'default (8)',
    elapsedMs: round(elapsedMs, 1),
    recordsProcessed: probe.processed,
    full: full ? { checkpointId: full.checkpointId, maxSyncMs: round(full.maxSyncMs, 3), durationMs: round(full.durationMs, 1), bytes: full.bytes, rows: full.rows } : null,
    incremental: {
      count: incremental.length,
      maxSyncMsMedian: round(quantile(sync, 0.5), 3),
      maxSyncMsMax: round(quantile(sync, 1), 3),
      durationMsMedian: round(quantile(incremental.map((s) => s.durationMs), 0.5), 1),
      bytesMedian: quantile(bytes, 0.5),
      rowsMedian: quantile(rows, 0.5),
      bytesPerRowMedian: round(quantile(incremental.map((s) => s.bytes / Math.max(1, s.rows!)), 0.5), 2),
    },
    latencyAll: summarize(probe.latencies),
    latencyAfterFullCheckpoint: summarize(afterFull),
    checkpoints: stats.map((s) => ({
      id: s.checkpointId,
      incremental: s.incremental,
      maxSyncMs: round(s.maxSyncMs, 3),
      durationMs: round(s.durationMs, 1),
      bytes: s.bytes,
      rows: s.rows,
      completedAtMs: s.completedAtMs,
    })),
  }
}

async function restore(): Promise<Record<string, unknown>> {
  const keys = num('keys', 1)
  const valueBytes = num('value-bytes')
  const probes = Math.min(keys, num('probes', 1))
  const restoreFrom = required('restore')
  const env = StreamExecutionEnvironment.create(envOptions(backend, stateDir))
  const probe = newProbe()
  const check = (v: unknown, key: number) =>
    valueBytes > 0 ? typeof v === 'string' && v.length === valueBytes && v.startsWith(`${key}:`) : typeof v === 'number' && v >= 1
  buildValueJob(env, new ProbeSource(keys, probes), valueStateFunction(probe, check))
  const started = performance.now()
  await env.execute('state-bench', { restoreFrom })
  const executeMs = performance.now() - started
  if (probe.processed !== probes || probe.missing > 0 || probe.wrong > 0) {
    throw new Error(`restore check failed: ${probe.processed} of ${probes} probes processed, ${probe.missing} keys missing, ${probe.wrong} wrong`)
  }
  return {
    keys,
    valueBytes,
    probes,
    savepointBytes: dirBytes(restoreFrom),
    firstRecordMs: round(probe.firstRecordAt - started, 1),
    executeMs: round(executeMs, 1),
  }
}

// ---------------------------------------------------------------------------------------------

async function main(): Promise<void> {
  const task = args.task
  const run = { throughput, build, update, restore }[task ?? '']
  if (!run) throw new Error(`--task must be one of throughput, build, update, restore; got "${task}"`)
  const startRss = process.memoryUsage.rss()
  let peakRss = startRss
  const sampler = setInterval(() => (peakRss = Math.max(peakRss, process.memoryUsage.rss())), 50)
  const loadAvg1 = loadavg()[0]
  const cpuBefore = process.cpuUsage()
  const jobStartUs = hrtimeUs()
  const out = await run()
  const jobEndUs = hrtimeUs()
  const cpu = process.cpuUsage(cpuBefore)
  clearInterval(sampler)
  peakRss = Math.max(peakRss, process.memoryUsage.rss())
  const result = {
    task,
    backend,
    ...out,
    cpuMs: round((cpu.user + cpu.system) / 1000, 1),
    loadAvg1: round(loadAvg1, 2),
    loadAvg1End: round(loadavg()[0], 2),
    peakRssMb: round(peakRss / MB, 1),
    startRssMb: round(startRss / MB, 1),
    node: process.version,
    jobStartUs,
    jobEndUs,
  }
  if (args['source-maps-out'] !== undefined) writeSourceMaps(args['source-maps-out'])
  process.stdout.write(RESULT_PREFIX + JSON.stringify(result) + '\n')
}

function hrtimeUs(): number {
  return Number(process.hrtime.bigint() / 1000n)
}

// No process.exit() on success: with --cpu-prof it would cut the main thread's profile short.
main().catch((e: unknown) => {
  console.error(e instanceof Error ? (e.stack ?? e.message) : e)
  process.exit(1)
})
