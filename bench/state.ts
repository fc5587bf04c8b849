/**
 * State and checkpoint benchmarks (`npm run bench:state`): memory vs RocksDB window throughput with
 * checkpoints, barrier pause and checkpoint size with 1M keys of which 1% change per interval, and
 * restore time of ~1 GB of state. Every step runs in a fresh child process (bench/state-child.ts),
 * as bench/run.ts does; each figure is the median over --runs runs. stdout: one JSON object per
 * line; progress on stderr. See bench/README.md, "State and checkpoint benchmarks".
 *
 *   npm run bench:state -- [--only throughput,pause,restore] [--runs 3] [--backends memory,rocksdb] [--cpu-prof]
 */
import { spawn, spawnSync } from 'node:child_process'
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { availableParallelism, cpus, loadavg, tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { formatProfileSummary, jobWindowFile, sourceMapsFile, summarizeProfiles } from './profile-summary.ts'
import { RESULT_PREFIX } from './result.ts'
import { WINDOW_PIPELINES, windowPipeline, type Backend, type WindowPipeline } from './state-jobs.ts'
import { median, round } from './stats.ts'

const REPO_ROOT = fileURLToPath(new URL('..', import.meta.url))
const RESULTS_DIR = join(REPO_ROOT, 'bench', 'results')
const MB = 1024 * 1024
/** Heap limit of the children that hold ~1 GB of state (default limit: ~4 GB). */
const BIG_HEAP = '--max-old-space-size=8192'

type Section = 'throughput' | 'pause' | 'restore'
const SECTIONS: readonly Section[] = ['throughput', 'pause', 'restore']

const { values: opts } = parseArgs({
  options: {
    only: { type: 'string' },
    runs: { type: 'string', default: '3' },
    warmup: { type: 'string', default: '1' },
    backends: { type: 'string', default: 'memory,rocksdb' },
    pipelines: { type: 'string' },
    events: { type: 'string' },
    'interval-ms': { type: 'string', default: '1000' },
    keys: { type: 'string', default: '1000000' },
    'changed-per-interval': { type: 'string', default: '10000' },
    checkpoints: { type: 'string', default: '12' },
    'no-compaction-variant': { type: 'boolean', default: false },
    'restore-mb': { type: 'string', default: '1024' },
    'value-bytes': { type: 'string', default: '1000' },
    'cpu-prof': { type: 'boolean', default: false },
    keep: { type: 'boolean', default: false },
    help: { type: 'boolean', short: 'h', default: false },
  },
  strict: true,
})

if (opts.help) {
  console.error(
    'usage: npm run bench:state -- [--only throughput,pause,restore] [--runs 3] [--warmup 1] [--backends memory,rocksdb]\n' +
      '         [--pipelines keyed-tumbling-count,hop-window] [--events N] [--interval-ms 1000]\n' +
      '         [--keys 1000000] [--changed-per-interval 10000] [--checkpoints 12] [--no-compaction-variant]\n' +
      '         [--restore-mb 1024] [--value-bytes 1000] [--cpu-prof] [--keep]',
  )
  process.exit(0)
}

function int(text: string | undefined, flag: string, min: number): number {
  const n = Number(String(text).trim().replace(/_/g, ''))
  if (!Number.isInteger(n) || n < min) throw new Error(`${flag} must be an integer >= ${min}, got "${text}"`)
  return n
}

const sections = (opts.only?.split(',').map((s) => s.trim()) ?? SECTIONS) as Section[]
for (const s of sections) if (!SECTIONS.includes(s)) throw new Error(`--only: unknown section "${s}"; known: ${SECTIONS.join(', ')}`)
const backends = opts.backends!.split(',').map((b) => b.trim()) as Backend[]
for (const b of backends) if (b !== 'memory' && b !== 'rocksdb') throw new Error(`--backends: unknown backend "${b}"`)
const runs = int(opts.runs, '--runs', 1)
const warmup = int(opts.warmup, '--warmup', 0)
/** 0 turns checkpointing off (throughput only: a baseline). */
const intervalMs = int(opts['interval-ms'], '--interval-ms', 0)
const keys = int(opts.keys, '--keys', 1)
const changedPerInterval = int(opts['changed-per-interval'], '--changed-per-interval', 1)
const wantedCheckpoints = int(opts.checkpoints, '--checkpoints', 1)
const restoreMb = int(opts['restore-mb'], '--restore-mb', 1)
const valueBytes = int(opts['value-bytes'], '--value-bytes', 16)
const pipelines: WindowPipeline[] = opts.pipelines ? opts.pipelines.split(',').map((p) => windowPipeline(p.trim())) : [...WINDOW_PIPELINES]
const workRoot = mkdtempSync(join(tmpdir(), 'fluxion-bench-state-'))
const profiles = new Map<string, string[]>()
const out: Record<string, unknown>[] = []

// ---------------------------------------------------------------------------------------------

type Child = Record<string, any>

/** Runs bench/state-child.ts once in a fresh Node process and returns its result. */
function runChild(args: string[], { bigHeap = false, profileAs }: { bigHeap?: boolean; profileAs?: string } = {}): Promise<Child> {
  const nodeFlags = bigHeap ? [BIG_HEAP] : []
  let profile: string | undefined
  if (profileAs !== undefined && opts['cpu-prof']) {
    mkdirSync(RESULTS_DIR, { recursive: true })
    const list = profiles.get(profileAs) ?? []
    profiles.set(profileAs, list)
    const name = `state-${profileAs}-run${list.length + 1}.cpuprofile`
    profile = join(RESULTS_DIR, name)
    list.push(profile)
    nodeFlags.push('--cpu-prof', '--cpu-prof-dir', RESULTS_DIR, '--cpu-prof-name', name, '--enable-source-maps')
    args = [...args, '--source-maps-out', sourceMapsFile(profile)]
  }
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [...nodeFlags, '--import', 'tsx', join('bench', 'state-child.ts'), ...args], {
      cwd: REPO_ROOT,
      stdio: ['ignore', 'pipe', 'inherit'],
    })
    let stdout = ''
    child.stdout.setEncoding('utf8')
    child.stdout.on('data', (chunk: string) => (stdout += chunk))
    child.on('error', reject)
    child.on('close', (code, signal) => {
      const line = stdout.split('\n').find((l) => l.startsWith(RESULT_PREFIX))
      if (code !== 0 || line === undefined) {
        reject(new Error(`bench/state-child.ts ${args.join(' ')} exited with ${signal ?? code}${line === undefined ? ' and no result line' : ''}\n${stdout}`))
        return
      }
      const result = JSON.parse(line.slice(RESULT_PREFIX.length)) as Child
      if (profile) writeFileSync(jobWindowFile(profile), JSON.stringify({ jobStartUs: result.jobStartUs, jobEndUs: result.jobEndUs }) + '\n')
      resolve(result)
    })
  })
}

const log = (text: string) => process.stderr.write(`[bench:state] ${text}\n`)

/** A fresh work directory for one run (checkpoints, savepoints, RocksDB working copies). */
function workDir(label: string): string {
  const dir = join(workRoot, label)
  mkdirSync(dir, { recursive: true })
  return dir
}

function clean(dir: string): void {
  if (!opts.keep) rmSync(dir, { recursive: true, force: true })
}

/** Median of a numeric field over runs (NaN/null-safe). */
function med(results: Child[], pick: (r: Child) => number | null | undefined, digits = 3): number | null {
  const xs = results.map(pick).filter((x): x is number => typeof x === 'number' && Number.isFinite(x))
  return xs.length === 0 ? null : round(median(xs), digits)
}

function emit(line: Record<string, unknown>): void {
  const full = {
    ...line,
    runs,
    statistic: 'median over the runs (each field separately); every step in a fresh child process',
    node: process.version,
    cpus: availableParallelism(),
    cpuModel: cpus()[0]?.model ?? 'unknown',
    commit: gitCommit(),
    date: new Date().toISOString(),
  }
  out.push(full)
  process.stdout.write(JSON.stringify(full) + '\n')
}

/** `git rev-parse --short HEAD` (+dirty when files outside bench/ changed), or $FLUXION_BENCH_COMMIT. */
function gitCommit(): string {
  if (process.env.FLUXION_BENCH_COMMIT) return process.env.FLUXION_BENCH_COMMIT
  const head = spawnSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: REPO_ROOT, encoding: 'utf8' })
  if (head.status !== 0) return 'unknown'
  const status = spawnSync('git', ['status', '--porcelain', '--untracked-files=no', '--', '.', ':(exclude)bench', ':(exclude)package.json'], { cwd: REPO_ROOT, encoding: 'utf8' })
  return head.stdout.trim() + (status.status === 0 && status.stdout.trim() !== '' ? '+dirty' : '')
}

// ---------------------------------------------------------------------------------------------
// (1) window throughput, memory vs rocksdb, checkpointing every --interval-ms

async function throughput(): Promise<void> {
  for (const pipeline of pipelines) {
    const events = opts.events === undefined ? pipeline.defaultEvents : int(opts.events, '--events', 1)
    const argsOf = (backend: Backend, dir: string) =>
      ['--task', 'throughput', '--pipeline', pipeline.name, '--backend', backend, '--events', String(events), '--interval-ms', String(intervalMs), '--work-dir', dir]
    for (let w = 0; w < warmup; w++) {
      for (const backend of backends) {
        const dir = workDir(`throughput-${pipeline.name}-${backend}-warmup${w}`)
        const r = await runChild(argsOf(backend, dir))
        clean(dir)
        log(`${pipeline.name} ${backend} warm-up: ${r.eventsPerSecond.toLocaleString('en-US')} events/s (discarded)`)
      }
    }
    const results: Record<string, Child[]> = Object.fromEntries(backends.map((b) => [b, []]))
    for (let k = 0; k < runs; k++) {
      // Alternate the order, so that neither backend always runs first on a drifting machine.
      const order = k % 2 === 0 ? backends : [...backends].reverse()
      for (const backend of order) {
        const dir = workDir(`throughput-${pipeline.name}-${backend}-run${k}`)
        const r = await runChild(argsOf(backend, dir), { profileAs: `${pipeline.name}-${backend}` })
        clean(dir)
        results[backend].push(r)
        log(
          `${pipeline.name} ${backend} run ${k + 1}/${runs}: ${r.eventsPerSecond.toLocaleString('en-US')} events/s, ` +
            `${r.checkpoints} checkpoints (pause median ${r.checkpointMaxSyncMsMedian} ms), load ${r.loadAvg1}`,
        )
      }
    }
    const perBackend = (rs: Child[]) => ({
      eventsPerSecond: med(rs, (r) => r.eventsPerSecond, 0),
      eventsPerSecondRuns: rs.map((r) => r.eventsPerSecond),
      eventsPerCpuSecond: med(rs, (r) => (r.events * 1000) / r.cpuMs, 0),
      elapsedMs: med(rs, (r) => r.elapsedMs, 1),
      checkpoints: med(rs, (r) => r.checkpoints, 1),
      checkpointMaxSyncMsMedian: med(rs, (r) => r.checkpointMaxSyncMsMedian),
      checkpointMaxSyncMsMax: med(rs, (r) => r.checkpointMaxSyncMsMax),
      checkpointBytesMedian: med(rs, (r) => r.checkpointBytesMedian, 0),
      peakRssMb: med(rs, (r) => r.peakRssMb, 1),
      loadAvg1Runs: rs.map((r) => r.loadAvg1),
    })
    const line: Record<string, unknown> = {
      benchmark: 'throughput',
      name: pipeline.name,
      description: pipeline.description,
      events,
      sinkRecords: results[backends[0]][0]?.sinkRecords,
      checkpointIntervalMs: intervalMs === 0 ? 'off' : intervalMs,
      parallelism: 1,
    }
    for (const b of backends) line[b] = perBackend(results[b])
    if (results.memory?.length && results.rocksdb?.length) {
      const mem = results.memory
      const rocks = results.rocksdb
      const ratio = (line.rocksdb as { eventsPerSecond: number }).eventsPerSecond / (line.memory as { eventsPerSecond: number }).eventsPerSecond
      Object.assign(line, {
        ratioRocksdbToMemory: round(ratio, 3),
        ratioRuns: mem.map((m, i) => round(rocks[i].eventsPerSecond / m.eventsPerSecond, 3)),
        ratioCpu: round(med(rocks, (r) => (r.events * 1000) / r.cpuMs)! / med(mem, (r) => (r.events * 1000) / r.cpuMs)!, 3),
        target: 'rocksdb/memory >= 0.5',
        met: ratio >= 0.5,
      })
    }
    line.loadAvg1 = med(Object.values(results).flat(), (r) => r.loadAvg1, 2)
    emit(line)
  }
}

// ---------------------------------------------------------------------------------------------
// (2) barrier pause and checkpoint size: --keys keys, --changed-per-interval of them per interval

async function pause(): Promise<void> {
  if (intervalMs === 0) throw new Error('--interval-ms 0 (no checkpoints) only makes sense with --only throughput')
  const rate = Math.round((changedPerInterval * 1000) / intervalMs)
  const variants: { name: string; compactAfter?: number }[] = [{ name: 'default compaction (compactAfter 8)' }]
  if (!opts['no-compaction-variant']) variants.push({ name: 'no compaction (compactAfter 1e9)', compactAfter: 1_000_000_000 })
  const builds: Record<string, Child[]> = {}
  const updates: Record<string, Child[]> = {}
  for (let k = 0; k < runs; k++) {
    const order = k % 2 === 0 ? backends : [...backends].reverse()
    for (const backend of order) {
      const dir = workDir(`pause-${backend}-run${k}`)
      const b = await runChild(['--task', 'build', '--backend', backend, '--keys', String(keys), '--work-dir', dir])
      ;(builds[backend] ??= []).push(b)
      log(`pause ${backend} run ${k + 1}/${runs}: loaded ${keys} keys at ${b.loadKeysPerSecond.toLocaleString('en-US')}/s, savepoint ${round(b.savepointBytes / MB, 1)} MB in ${b.savepointMs} ms`)
      for (const v of variants) {
        const args = ['--task', 'update', '--backend', backend, '--keys', String(keys), '--rate', String(rate), '--interval-ms', String(intervalMs)]
        args.push('--checkpoints', String(wantedCheckpoints), '--restore', b.savepointPath, '--work-dir', join(dir, v.compactAfter === undefined ? 'default' : 'nocompact'))
        if (v.compactAfter !== undefined) args.push('--compact-after', String(v.compactAfter))
        const u = await runChild(args, { profileAs: `pause-${backend}${v.compactAfter === undefined ? '' : '-nocompact'}` })
        ;(updates[`${backend}|${v.name}`] ??= []).push(u)
        log(
          `pause ${backend} [${v.name}] run ${k + 1}/${runs}: full ${u.full?.rows} rows ${u.full?.maxSyncMs} ms; incremental pause median ${u.incremental.maxSyncMsMedian} ms, ` +
            `max ${u.incremental.maxSyncMsMax} ms, ${u.incremental.rowsMedian} rows, ${u.incremental.bytesMedian} B; record latency max ${u.latencyAll.maxMs} ms; load ${u.loadAvg1}`,
        )
      }
      clean(dir)
    }
  }
  for (const backend of backends) {
    for (const v of variants) {
      const us = updates[`${backend}|${v.name}`]
      const bs = builds[backend]
      // Incremental checkpoints of a steady interval (≈1% changed), apart from catch-up ones after a stall.
      const steady = (u: Child) => (u.checkpoints as Child[]).filter((c) => c.incremental && c.rows <= 1.5 * changedPerInterval)
      const steadyMax = (u: Child) => Math.max(...steady(u).map((c) => c.maxSyncMs))
      // The full snapshot the deltas are compared with: the first checkpoint after the restore when
      // it is full (before incremental restores), else the savepoint the run restored (run i ↔ build i).
      const fullOf = (u: Child): Child =>
        u.full ?? { rows: bs[us.indexOf(u)].savepointRows, bytes: bs[us.indexOf(u)].savepointStatBytes, maxSyncMs: bs[us.indexOf(u)].savepointMaxSyncMs, durationMs: bs[us.indexOf(u)].savepointMs }
      const fullBytesPerRow = med(us, (u) => fullOf(u).bytes / fullOf(u).rows, 2)!
      const incBytesPerRow = med(us, (u) => u.incremental.bytesPerRowMedian, 2)!
      // Size ∝ changed keys: fit bytes = fixed + perRow × rows over every incremental checkpoint of
      // every run (their row counts differ: catch-up intervals after a stall change more keys).
      const points = us.flatMap((u) => (u.checkpoints as Child[]).filter((c) => c.incremental).map((c) => [c.rows as number, c.bytes as number]))
      const fit = linearFit(points)
      const syncMedian = med(us, (u) => u.incremental.maxSyncMsMedian)!
      const syncMaxSteady = med(us, steadyMax)!
      emit({
        benchmark: 'checkpoint-pause',
        backend,
        variant: v.name,
        keys,
        changedKeysPerInterval: changedPerInterval,
        updatesPerSecond: rate,
        checkpointIntervalMs: intervalMs,
        method:
          `a child loads ${keys} keys (ValueState<number> each) and takes a savepoint; a new child restores it and updates ${rate} keys/s ` +
          `(paced; any ${keys} consecutive updates touch distinct keys) with checkpoints every ${intervalMs} ms until ${wantedCheckpoints} incremental ` +
          'checkpoints completed. Rows per checkpoint come from checkpointStats; the full reference is the first checkpoint after the restore if it is full, else the savepoint.',
        build: {
          loadKeysPerSecond: med(bs, (b) => b.loadKeysPerSecond, 0),
          savepointMs: med(bs, (b) => b.savepointMs, 1),
          savepointMb: med(bs, (b) => b.savepointBytes / MB, 1),
        },
        fullCheckpoint: {
          source: us.every((u) => u.full) ? 'the first checkpoint after the restore' : 'the restored savepoint (the first checkpoint after the restore is incremental)',
          rows: med(us, (u) => fullOf(u).rows, 0),
          bytes: med(us, (u) => fullOf(u).bytes, 0),
          maxSyncMs: med(us, (u) => fullOf(u).maxSyncMs, 1),
          durationMs: med(us, (u) => fullOf(u).durationMs, 1),
          bytesPerRow: fullBytesPerRow,
        },
        incremental: {
          checkpointsPerRun: med(us, (u) => u.incremental.count, 0),
          maxSyncMsMedian: syncMedian,
          maxSyncMsMax: med(us, (u) => u.incremental.maxSyncMsMax),
          maxSyncMsMaxSteady: syncMaxSteady,
          maxSyncMsMaxRuns: us.map((u) => u.incremental.maxSyncMsMax),
          durationMsMedian: med(us, (u) => u.incremental.durationMsMedian, 1),
          rowsMedian: med(us, (u) => u.incremental.rowsMedian, 0),
          bytesMedian: med(us, (u) => u.incremental.bytesMedian, 0),
          bytesPerRow: incBytesPerRow,
          bytesRelativeToFull: med(us, (u) => u.incremental.bytesMedian / fullOf(u).bytes, 5),
          rowsRelativeToFull: med(us, (u) => u.incremental.rowsMedian / fullOf(u).rows, 5),
          sizeFit: { definition: 'least squares bytes = fixedBytes + bytesPerRow × rows over all incremental checkpoints of all runs', ...fit },
        },
        recordLatency: {
          definition: 'processing time at the keyed function − the time the paced source was due to emit the record: the stall a record saw, whatever caused it',
          all: { p50Ms: med(us, (u) => u.latencyAll.p50Ms), p99Ms: med(us, (u) => u.latencyAll.p99Ms), maxMs: med(us, (u) => u.latencyAll.maxMs, 1) },
          afterFullCheckpoint: {
            p50Ms: med(us, (u) => u.latencyAfterFullCheckpoint.p50Ms),
            p99Ms: med(us, (u) => u.latencyAfterFullCheckpoint.p99Ms),
            maxMs: med(us, (u) => u.latencyAfterFullCheckpoint.maxMs, 1),
          },
        },
        target: 'barrier pause (maxSyncMs) of incremental checkpoints <= 50 ms; size proportional to changed keys',
        metPause: syncMaxSteady <= 50,
        metPauseAllIncremental: med(us, (u) => u.incremental.maxSyncMsMax)! <= 50,
        // Proportional: the fit explains the sizes, and a changed key costs about what a key costs in the full checkpoint.
        metProportional: fit.r2 >= 0.99 && fit.bytesPerRow <= 1.5 * fullBytesPerRow,
        peakRssMb: med(us, (u) => u.peakRssMb, 1),
        loadAvg1: med(us, (u) => u.loadAvg1, 2),
        loadAvg1Runs: us.map((u) => u.loadAvg1),
        checkpointsFirstRun: us[0]?.checkpoints,
      })
    }
  }
}

/** Least-squares line through (x, y) points. */
function linearFit(points: number[][]): { fixedBytes: number; bytesPerRow: number; r2: number; points: number; rowsRange: number[] } {
  const n = points.length
  const mx = points.reduce((a, [x]) => a + x, 0) / n
  const my = points.reduce((a, [, y]) => a + y, 0) / n
  let sxy = 0
  let sxx = 0
  let syy = 0
  for (const [x, y] of points) {
    sxy += (x - mx) * (y - my)
    sxx += (x - mx) ** 2
    syy += (y - my) ** 2
  }
  const slope = sxx === 0 ? my / mx : sxy / sxx
  const r2 = sxx === 0 || syy === 0 ? 1 : (sxy * sxy) / (sxx * syy)
  const xs = points.map(([x]) => x)
  return { fixedBytes: Math.round(my - slope * mx), bytesPerRow: round(slope, 3), r2: round(r2, 5), points: n, rowsRange: [Math.min(...xs), Math.max(...xs)] }
}

// ---------------------------------------------------------------------------------------------
// (3) restore time of --restore-mb MB of state

async function restore(): Promise<void> {
  // Each row costs valueBytes plus ≈30 bytes of framing (key, key group, v8 headers).
  const restoreKeys = Math.round((restoreMb * MB) / (valueBytes + 30))
  const builds: Record<string, Child[]> = {}
  const restores: Record<string, Child[]> = {}
  for (let k = 0; k < runs; k++) {
    const order = k % 2 === 0 ? backends : [...backends].reverse()
    for (const backend of order) {
      const dir = workDir(`restore-${backend}-run${k}`)
      const common = ['--backend', backend, '--keys', String(restoreKeys), '--value-bytes', String(valueBytes), '--work-dir', dir]
      const b = await runChild(['--task', 'build', ...common], { bigHeap: true })
      ;(builds[backend] ??= []).push(b)
      log(`restore ${backend} run ${k + 1}/${runs}: built ${round(b.savepointBytes / MB, 1)} MB (${restoreKeys} keys) in ${b.loadMs} ms, savepoint in ${b.savepointMs} ms`)
      const r = await runChild(['--task', 'restore', ...common, '--restore', b.savepointPath], { bigHeap: true, profileAs: `restore-${backend}` })
      ;(restores[backend] ??= []).push(r)
      log(`restore ${backend} run ${k + 1}/${runs}: first record after ${r.firstRecordMs} ms, job done after ${r.executeMs} ms, peak RSS ${r.peakRssMb} MB, load ${r.loadAvg1}`)
      clean(dir)
    }
  }
  for (const backend of backends) {
    const rs = restores[backend]
    const bs = builds[backend]
    const stateMb = med(rs, (r) => r.savepointBytes / MB, 1)!
    const seconds = med(rs, (r) => r.firstRecordMs / 1000, 2)!
    const per1Gb = round((seconds * 1024) / stateMb, 2)
    emit({
      benchmark: 'restore',
      backend,
      stateMb,
      keys: restoreKeys,
      valueBytes,
      method:
        `a child loads ${restoreKeys} keys with a distinct ${valueBytes}-byte string each (ValueState) and takes a savepoint (triggerSavepoint); ` +
        'a new child runs execute(name, { restoreFrom }) without checkpointing, with a bounded source of 1000 probe keys that the keyed function ' +
        'reads back and checks. restoreSeconds: from execute() to the first record at the keyed function (checkpoint files read and decoded, ' +
        'backend restored, tasks opened). The savepoint was just written, so its files are read from the page cache, not from disk.',
      restoreSeconds: seconds,
      restoreSecondsRuns: rs.map((r) => round(r.firstRecordMs / 1000, 2)),
      jobSeconds: med(rs, (r) => r.executeMs / 1000, 2),
      secondsPer1GbExtrapolated: per1Gb,
      extrapolated: stateMb < 1000,
      target: 'restore of 1 GB of state <= 30 s',
      met: per1Gb <= 30,
      restorePeakRssMb: med(rs, (r) => r.peakRssMb, 1),
      build: {
        loadSeconds: med(bs, (b) => b.loadMs / 1000, 2),
        savepointSeconds: med(bs, (b) => b.savepointMs / 1000, 2),
        savepointPauseMs: med(bs, (b) => b.savepointMaxSyncMs, 1),
        peakRssMb: med(bs, (b) => b.peakRssMb, 1),
      },
      loadAvg1: med(rs, (r) => r.loadAvg1, 2),
      loadAvg1Runs: rs.map((r) => r.loadAvg1),
    })
  }
}

// ---------------------------------------------------------------------------------------------

async function main(): Promise<void> {
  log(`work dir ${workRoot}; sections ${sections.join(', ')}; backends ${backends.join(', ')}; ${runs} runs; load average now ${loadavg()[0].toFixed(2)}`)
  try {
    if (sections.includes('throughput')) await throughput()
    if (sections.includes('pause')) await pause()
    if (sections.includes('restore')) await restore()
  } finally {
    if (!opts.keep) rmSync(workRoot, { recursive: true, force: true })
  }
  mkdirSync(RESULTS_DIR, { recursive: true })
  writeFileSync(join(RESULTS_DIR, `state-latest${opts['cpu-prof'] ? '-profiled' : ''}.json`), JSON.stringify(out, null, 2) + '\n')
  if (opts['cpu-prof']) {
    for (const [label, files] of profiles) process.stderr.write('\n' + formatProfileSummary(`${label} (${files.length} runs, in ${RESULTS_DIR})`, summarizeProfiles(files), 15) + '\n')
  }
}

main().catch((e: unknown) => {
  console.error(e instanceof Error ? (e.stack ?? e.message) : e)
  process.exit(1)
})
