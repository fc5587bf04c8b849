/**
 * Worker threads (DESIGN.md §3): a job module runs the same with `workers` as on the current thread.
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { FluxionError, loadJob, StreamExecutionEnvironment } from '../../index.ts'
import { seededEvents } from './fixtures/events.ts'
import type { WindowJobSpec, WindowRow } from './fixtures/keyed-window-job.ts'
import type { CountRow } from './fixtures/exactly-once-job.ts'

const WINDOW_JOB = new URL('./fixtures/keyed-window-job.ts', import.meta.url)
const SLOW_SINK_JOB = new URL('./fixtures/slow-sink-job.ts', import.meta.url)
const EXACTLY_ONCE_JOB = new URL('./fixtures/exactly-once-job.ts', import.meta.url)

const sorted = (rows: WindowRow[]): string[] => rows.map((r) => `${r.key}|${r.start}|${r.end}|${r.value}`).sort()

const specArb: fc.Arbitrary<WindowJobSpec> = fc
  .record({
    n: fc.integer({ min: 1, max: 300 }),
    keys: fc.integer({ min: 1, max: 12 }),
    disorder: fc.integer({ min: 0, max: 50 }),
    seed: fc.integer(),
    window: fc.oneof(
      fc.integer({ min: 5, max: 200 }).map((size) => ({ kind: 'tumbling' as const, size })),
      fc.tuple(fc.integer({ min: 1, max: 50 }), fc.integer({ min: 1, max: 4 })).map(([slide, k]) => ({ kind: 'sliding' as const, size: slide * k, slide })),
      fc.integer({ min: 1, max: 60 }).map((gap) => ({ kind: 'session' as const, gap })),
    ),
    aggregate: fc.constantFrom('count' as const, 'sum' as const, 'max' as const),
  })
  .map(({ n, keys, disorder, seed, window, aggregate }) => {
    const events = seededEvents({ n, keys, disorder, seed, firstTs: 1_000 })
    return { events, window, aggregate, outOfOrderness: disorder + 1 }
  })

describe('workers', () => {
  it('random keyed window job modules give the same rows with workers: 2 as on the current thread', async () => {
    await fc.assert(
      fc.asyncProperty(specArb, fc.integer({ min: 1, max: 3 }), fc.constantFrom(1, 4, 64), async (spec, parallelism, batchSize) => {
        const params = { spec: JSON.stringify(spec) }
        const options = { parallelism, batchSize, channelCapacity: batchSize * 2 }
        const local = await loadJob(WINDOW_JOB, params, options)
        const [expected] = (await local.env.executeAndCollect(...local.outputs)) as [WindowRow[]]
        const threaded = await loadJob(WINDOW_JOB, params, { ...options, workers: 2 })
        const [actual] = (await threaded.env.executeAndCollect(...threaded.outputs)) as [WindowRow[]]
        expect(expected.length).toBeGreaterThan(0)
        expect(sorted(actual)).toEqual(sorted(expected))
      }),
      { numRuns: 4 },
    )
    // Each run starts two workers (an import of the engine each): seconds on a loaded machine.
  }, 120_000)

  it('bounds what crosses between workers when the consumer is slow (credit-based backpressure)', async () => {
    const out = mkdtempSync(join(tmpdir(), 'fluxion-workers-bp-'))
    try {
      const count = 20_000
      const batchSize = 16
      const channelCapacity = 64
      // The generator could emit 20k records in a few ms; the consumer needs ≥ 20k × 20 µs.
      const { env, job } = await loadJob(SLOW_SINK_JOB, { count: String(count), spinUs: '20', out }, { parallelism: 2, workers: 2, batchSize, channelCapacity })
      const result = await env.execute(job.name)
      const slow = result.tasks.filter((t) => t.name.startsWith('slow'))
      expect(slow).toHaveLength(2)
      expect(slow.reduce((n, t) => n + t.recordsIn, 0)).toBe(count)
      // Each consumer has two input channels (one per generator subtask, one of them remote):
      // at most capacity records outstanding on each, plus one batch of overshoot.
      for (const t of slow) expect(t.peakQueuedRecords).toBeLessThanOrEqual(2 * (channelCapacity + batchSize))
      const ids = readdirSync(out).flatMap((f) => readFileSync(join(out, f), 'utf8').trim().split('\n').map(Number))
      expect(ids.sort((a, b) => a - b)).toEqual(Array.from({ length: count }, (_, i) => i))
    } finally {
      rmSync(out, { recursive: true, force: true })
    }
  })

  it('checkpoints across workers: a user function that throws once restarts the job (new workers) from a checkpoint, and the transactional files hold every count exactly once', async () => {
    const root = mkdtempSync(join(tmpdir(), 'fluxion-workers-eo-'))
    try {
      const count = 12_000
      const params = { count: String(count), rate: '6000', failAt: String(count / 2), marker: join(root, 'failed-once'), out: join(root, 'out') }
      const logs: string[] = []
      const { env, job } = await loadJob(EXACTLY_ONCE_JOB, params, {
        parallelism: 2,
        workers: 2,
        batchSize: 64,
        checkpoint: { intervalMs: 150, dir: join(root, 'chk') },
        restartStrategy: { type: 'fixed-delay', attempts: 3, delayMs: 0 },
      })
      const result = await env.execute(job.name, { log: (m) => logs.push(m) })
      expect(result.restarts).toBe(1)
      expect(logs.join('\n')).toMatch(/operator "fail-once" threw.*injected failure at record 6000/)
      // Restarted from a checkpoint, not from the start: some checkpoint completed before the failure.
      expect(readdirSync(join(root, 'chk')).some((d) => /^chk-\d+$/.test(d))).toBe(true)
      const rows = readdirSync(params.out)
        .filter((f) => f.endsWith('.jsonl'))
        .flatMap((f) => readFileSync(join(params.out, f), 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as CountRow))
      // Exactly once: key k's rolling counts are 1, 2, …, n_k, each once.
      const byKey = new Map<number, number[]>()
      for (const r of rows) byKey.set(r.key, [...(byKey.get(r.key) ?? []), r.n])
      expect(rows).toHaveLength(count)
      for (let k = 0; k < 13; k++) {
        const n = Math.floor((count - 1 - k) / 13) + 1
        expect(byKey.get(k)!.sort((a, b) => a - b)).toEqual(Array.from({ length: n }, (_, i) => i + 1))
      }
    } finally {
      rmSync(root, { recursive: true, force: true })
    }
  })

  it('fails a job on workers with the operator name and cause of a user function that throws', async () => {
    const root = mkdtempSync(join(tmpdir(), 'fluxion-workers-fail-'))
    try {
      const params = { count: '2000', rate: '1000000', failAt: '1000', marker: join(root, 'failed-once'), out: join(root, 'out') }
      const { env, job } = await loadJob(EXACTLY_ONCE_JOB, params, { parallelism: 2, workers: 2 })
      const e = (await env.execute(job.name).catch((x: unknown) => x)) as FluxionError
      expect(e).toBeInstanceOf(FluxionError)
      expect(e.code).toBe('FLX_USER_FUNCTION_FAILED')
      expect(e.operator).toBe('fail-once')
      expect(String((e.cause as Error).message)).toMatch(/injected failure at record 1000/)
    } finally {
      rmSync(root, { recursive: true, force: true })
    }
  })

  it('rejects workers without a job module, and bad worker counts', async () => {
    const env = StreamExecutionEnvironment.create({ workers: 2 })
    const stream = env.fromCollection([1, 2, 3])
    await expect(env.executeAndCollect(stream)).rejects.toThrow(/workers need a job module/)
    expect(() => StreamExecutionEnvironment.create({ workers: 0 })).toThrow(FluxionError)
  })
})
