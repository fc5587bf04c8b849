/**
 * Metrics of runs on worker threads (worker-metrics.ts):
 * - the reporter → BroadcastChannel → collector path gives the same throughput interval, outputs
 *   and latencies as RunMetrics fed the same events, samples and clock (fast-check, both event-time
 *   modes), and thins many outputs the same way;
 * - `job.ts --workers 2` reports latency samples for q1 ('record') and q5 ('watermark'), with as
 *   many outputs as the reference computation.
 */
import { execFile } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { createGenerator, WATERMARK_DELAY_MS, type NexmarkConfig } from './generator.ts'
import { MAX_SAMPLES, RunMetrics } from './metrics.ts'
import type { NexmarkEvent } from './model.ts'
import type { LatencyMode } from './queries/common.ts'
import { refQ1, refQ5 } from './reference.ts'
import { WorkerMetricsCollector, WorkerMetricsReporter } from './worker-metrics.ts'

/** One step of a run: source subtask `s` generates its next event (time `dt` ms later), or the sink gets an output with timestamp `ts`. */
type Step = { kind: 'event'; s: number; dt: number; advance: number } | { kind: 'output'; ts: number; advance: number }

const sorted = (xs: number[]): number[] => [...xs].sort((a, b) => a - b)

/** Feeds the same steps to RunMetrics and to a reporter (its sink as subtask 0 of 1), with one fake clock. */
async function feedBoth(mode: LatencyMode, p: number, steps: readonly Step[], batch?: number) {
  const events = steps.filter((st) => st.kind === 'event').length
  let now = 1000
  const clock = (): number => now
  const inProcess = new RunMetrics(p, mode, clock)
  const collector = new WorkerMetricsCollector(mode, p, events)
  const reporter = new WorkerMetricsReporter({ channel: collector.channelName, mode, sourceParallelism: p, events, clock, batch })
  const writer = reporter.sink<unknown>().createWriter({ subtaskIndex: 0, parallelism: 1 })
  const nextIndex = Array.from({ length: p }, (_, s) => s)
  const eventTime = new Array<number>(p).fill(0)
  for (const st of steps) {
    now += st.advance
    if (st.kind === 'event') {
      // Positions s, s + p, … below `events`: which subtask comes next is up to the steps, but a
      // subtask only has as many positions as the generator gives it.
      const s = nextIndex.findIndex((i, k) => k >= st.s && i < events)
      const sub = s >= 0 ? s : nextIndex.findIndex((i) => i < events)
      eventTime[sub] += st.dt
      const e = { dateTime: eventTime[sub] } as NexmarkEvent
      inProcess.observe(nextIndex[sub], e)
      reporter.observe(nextIndex[sub], e)
      nextIndex[sub] += p
    } else {
      inProcess.output(st.ts)
      writer.write(null, st.ts)
    }
  }
  now += 1
  inProcess.sinkEnded()
  writer.flush!()
  return { inProcess, merged: await collector.finish(5000) }
}

const stepArb = (p: number): fc.Arbitrary<Step> =>
  fc.oneof(
    fc.record({ kind: fc.constant('event' as const), s: fc.integer({ min: 0, max: p - 1 }), dt: fc.integer({ min: -50, max: 100 }), advance: fc.integer({ min: 0, max: 5 }) }),
    fc.record({ kind: fc.constant('output' as const), ts: fc.integer({ min: -10, max: 6000 }), advance: fc.integer({ min: 0, max: 5 }) }),
  )

describe('worker metrics', () => {
  it('equal RunMetrics fed the same steps (record and watermark modes)', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom<LatencyMode>('record', 'watermark'),
        fc.integer({ min: 1, max: 3 }).chain((p) => fc.tuple(fc.constant(p), fc.array(stepArb(p), { minLength: 1, maxLength: 1500 }))),
        fc.constantFrom(1, 2, 7, 4096),
        async (mode, [p, raw], batch) => {
          // At least one event (the sources must report) and one output (the sink must report).
          const steps: Step[] = [{ kind: 'event', s: 0, dt: 0, advance: 0 }, ...raw]
          const { inProcess, merged } = await feedBoth(mode, p, steps, batch)
          expect(merged.outputs).toBe(inProcess.outputs)
          expect(merged.sourceEvents).toBe(steps.filter((s) => s.kind === 'event').length)
          expect(merged.firstEventAt).toBe(inProcess.firstEventAt)
          expect(merged.lastSinkEndAt).toBe(inProcess.lastSinkEndAt)
          expect(sorted(merged.latencies(WATERMARK_DELAY_MS))).toEqual(sorted(inProcess.latencies(WATERMARK_DELAY_MS)))
        },
      ),
      { numRuns: 60 },
    )
  })

  it('thins many outputs as RunMetrics does, and evenly over sink subtasks', async () => {
    const steps: Step[] = [{ kind: 'event', s: 0, dt: 0, advance: 0 }]
    for (let i = 0; i < 3 * MAX_SAMPLES + 123; i++) steps.push({ kind: 'output', ts: 0, advance: i % 3 })
    const { inProcess, merged } = await feedBoth('record', 1, steps)
    const lat = merged.latencies(WATERMARK_DELAY_MS)
    expect(lat.length).toBeLessThan(MAX_SAMPLES)
    expect(sorted(lat)).toEqual(sorted(inProcess.latencies(WATERMARK_DELAY_MS)))

    // Two sink subtasks, 100k and 20k outputs: one stride for both (every 2nd output of each).
    const collector = new WorkerMetricsCollector('record', 1, 1)
    const reporter = new WorkerMetricsReporter({ channel: collector.channelName, mode: 'record', sourceParallelism: 1, events: 1, clock: () => 7 })
    reporter.observe(0, { dateTime: 0 } as NexmarkEvent)
    const sizes = [100_000, 20_000]
    const writers = sizes.map((_, subtaskIndex) => reporter.sink<unknown>().createWriter({ subtaskIndex, parallelism: 2 }))
    sizes.forEach((n, w) => {
      for (let i = 0; i < n; i++) writers[w].write(null, 0)
      writers[w].flush!()
    })
    const two = await collector.finish(5000)
    expect(two.outputs).toBe(120_000)
    expect(two.latencies(WATERMARK_DELAY_MS)).toHaveLength(50_000 + 10_000)
  })

  it('times out with a clear message when a subtask never reports', async () => {
    const collector = new WorkerMetricsCollector('record', 2, 10)
    const reporter = new WorkerMetricsReporter({ channel: collector.channelName, mode: 'record', sourceParallelism: 2, events: 10 })
    for (let i = 0; i < 10; i += 2) reporter.observe(i, { dateTime: i } as NexmarkEvent)
    await expect(collector.finish(300)).rejects.toThrow(/final reports of 1\/2 source and 0\/\? sink subtasks/)
  })

  it('the start gate: a worker gets it while it builds, the sources pass once it is open', async () => {
    const collector = new WorkerMetricsCollector('record', 1, 1)
    const reporter = new WorkerMetricsReporter({ channel: collector.channelName, mode: 'record', sourceParallelism: 1, events: 1 })
    await reporter.awaitGate()
    collector.openGate()
    reporter.observe(0, { dateTime: 5 } as NexmarkEvent)
    const w = reporter.sink<unknown>().createWriter({ subtaskIndex: 0, parallelism: 1 })
    w.write(null, 5)
    w.flush!()
    const m = await collector.finish(5000)
    expect(m.sourceEvents).toBe(1)
    expect(m.latencies(WATERMARK_DELAY_MS)).toHaveLength(1)
  })
})

const JOB = fileURLToPath(new URL('./job.ts', import.meta.url))
/** job.ts's result line (importing job.ts would run it). */
const RESULT_PREFIX = 'NEXMARK_RESULT '

interface WorkerRunResult {
  outputs: number
  p50Ms: number
  p99Ms: number
  latencySamples: number
  latencyMode: string
  eventsPerSecond: number
  cpuMs: number
  sourceStartSkewMs: number
}

async function runOnWorkers(query: string, events: number, config: Partial<NexmarkConfig>): Promise<WorkerRunResult> {
  const args = ['--import', 'tsx', JOB, '--query', query, '--events', String(events), '--parallelism', '2', '--workers', '2']
  if (config.eventsPerSecond !== undefined) args.push('--rate', String(config.eventsPerSecond))
  const { stdout } = await promisify(execFile)(process.execPath, args, { maxBuffer: 1 << 20 })
  const line = stdout.split('\n').find((l) => l.startsWith(RESULT_PREFIX))
  expect(line, stdout).toBeDefined()
  return JSON.parse(line!.slice(RESULT_PREFIX.length)) as WorkerRunResult
}

function expectPlausibleLatency(r: WorkerRunResult, mode: string): void {
  expect(r.latencyMode).toBe(mode)
  expect(r.latencySamples).toBeGreaterThan(0)
  for (const ms of [r.p50Ms, r.p99Ms]) {
    expect(Number.isFinite(ms)).toBe(true)
    expect(ms).toBeGreaterThanOrEqual(0)
    // Far below the whole run (minutes on the slowest machine).
    expect(ms).toBeLessThan(120_000)
  }
  expect(r.p50Ms).toBeLessThanOrEqual(r.p99Ms)
  expect(r.eventsPerSecond).toBeGreaterThan(0)
  expect(r.cpuMs).toBeGreaterThan(0)
  expect(Number.isFinite(r.sourceStartSkewMs)).toBe(true)
}

describe('job.ts --workers 2', () => {
  it('q1 (record latency): every output counted, latency sampled', async () => {
    const events = 100_000
    const r = await runOnWorkers('q1', events, {})
    const g = createGenerator({})
    expect(r.outputs).toBe(refQ1(Array.from({ length: events }, (_, i) => g(i))).length)
    expectPlausibleLatency(r, 'record')
  })

  it('q5 (watermark latency): windows that fired before the end of input have samples', async () => {
    // 10 000 events/s of event time: 100k events span 10 s, so windows ending at 2, 4 and 6 s fire
    // on the watermark (their end + 4 s) before the end of input.
    const events = 100_000
    const config = { eventsPerSecond: 10_000 }
    const r = await runOnWorkers('q5', events, config)
    const g = createGenerator(config)
    expect(r.outputs).toBe(refQ5(Array.from({ length: events }, (_, i) => g(i))).length)
    expectPlausibleLatency(r, 'watermark')
  })
})
