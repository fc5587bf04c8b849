/**
 * RunMetrics for runs on worker threads (job.ts --workers N). The source and sink subtasks run in
 * workers, so they record there what RunMetrics records in-process — the same progress log (every
 * PROGRESS_EVERY events per source subtask), the same output samples — and post it in batches over
 * a BroadcastChannel named per run to the main thread, which merges it (WorkerMetricsCollector)
 * and computes the latencies with the same function (metrics.ts latenciesOf).
 *
 * - Clock: `monotonicMs()` (process.hrtime: CLOCK_MONOTONIC, one clock for every thread of the
 *   process). Not `performance.timeOrigin + performance.now()`: in Node 20 a worker's timeOrigin is
 *   the process's but its performance.now() counts from the worker's own start, so the sum runs
 *   ahead of the main thread's by the worker's start-up time (ms). 'processing' samples use
 *   Date.now(), as in-process.
 * - CPU: `process.cpuUsage()` is the whole process's (all threads) in a worker too; each subtask's
 *   first report carries it at the subtask's first event, each sink's final report at its end.
 * - Sampling: each sink subtask keeps its outputs whose per-subtask index n is a multiple of its
 *   stride (doubled when MAX_SAMPLES are kept) and sends n with each sample; the main thread thins
 *   every subtask to one common stride S (keeps n mod S = 0) and doubles S until fewer than
 *   MAX_SAMPLES remain: every S-th output of every sink subtask, as RunMetrics keeps every S-th
 *   output of the sink.
 * - Start: workers start one after the other (under load ≈ 1 s apart), and each runs its subtasks
 *   as soon as it has deployed them, so one worker's sources could run ahead for a while. A start
 *   gate keeps every source subtask at its first event until the main thread has seen every
 *   worker deployed (`openGate`): a SharedArrayBuffer flag handed to each worker over the channel
 *   while its job module builds (`awaitGate`), checked only on a subtask's first event
 *   (Atomics.wait). Then, as in-process, all sources start together and throughput counts from
 *   the first event of any source subtask (`sourceStartSkewMs` shows how far apart they started).
 * - Completeness: a source subtask sends its last batch (`final`) with its last event (the generator
 *   gives subtask s of p the positions s, s + p, … below `events`, so that is the one with
 *   index + p ≥ events), a sink subtask at its end of input (`flush`). The main thread waits for the
 *   final batch of every source and sink subtask before it computes anything.
 */
import { BroadcastChannel } from 'node:worker_threads'
import type { Sink, SinkWriter, SinkWriterContext } from '../../index.ts'
import { latenciesOf, MAX_SAMPLES, PROGRESS_EVERY, type SourceProgress } from './metrics.ts'
import type { NexmarkEvent } from './model.ts'
import type { LatencyMode } from './queries/common.ts'

/** Milliseconds on the monotonic clock shared by all threads of the process. */
export function monotonicMs(): number {
  return Number(process.hrtime.bigint()) / 1e6
}

/** Entries per posted batch (progress entries of one source subtask / samples of one sink subtask). */
const BATCH = 4096

interface CpuAt {
  at: number
  /** process.cpuUsage() user + system, µs. */
  cpuUs: number
}

/** Worker → main: send me the start gate. Main → workers: the gate (Int32Array flag, 1 = open). */
interface GateRequest {
  kind: 'gate-request'
}
interface Gate {
  kind: 'gate'
  flag: SharedArrayBuffer
}

/** One batch of a source subtask's progress log: pairs (event time, moment). */
interface ProgressBatch {
  kind: 'progress'
  subtask: number
  seq: number
  entries: Float64Array
  /** In the subtask's first batch: its first event. */
  first?: CpuAt
  /** In its last batch: how many events it generated. */
  final?: { events: number }
}

/** One batch of a sink subtask's samples: triples (per-subtask output index, moment, timestamp). */
interface SampleBatch {
  kind: 'samples'
  subtask: number
  parallelism: number
  seq: number
  entries: Float64Array
  /** In its last batch: outputs in total, stride of its sampling, its end of input. */
  final?: { outputs: number; stride: number; end: CpuAt }
}

type MetricsMessage = GateRequest | Gate | ProgressBatch | SampleBatch

/** A source waits at most this long for the start gate, then fails the job. */
const GATE_TIMEOUT_MS = 120_000

const cpuNow = (): number => {
  const u = process.cpuUsage()
  return u.user + u.system
}

export interface WorkerMetricsOptions {
  /** The BroadcastChannel's name (WorkerMetricsCollector.channelName). */
  channel: string
  mode: LatencyMode
  /** Parallelism of the generator source. */
  sourceParallelism: number
  /** Events over all source subtasks. */
  events: number
  /** Monotonic ms (tests pass a fake); default monotonicMs. */
  clock?: () => number
  /** Entries per posted batch; default BATCH (tests pass small ones). */
  batch?: number
}

/**
 * The worker side: the generator's `observe` hook and a sink. Created by the job module in every
 * thread that builds the graph; only the threads that run source or sink subtasks post anything
 * (the channel is opened on the first post).
 */
export class WorkerMetricsReporter {
  private channel: BroadcastChannel | undefined
  private readonly p: number
  private readonly events: number
  private readonly clock: () => number
  private readonly counts: Int32Array
  private readonly maxTs: Float64Array
  private readonly buffers: Float64Array[]
  private readonly fill: Int32Array
  private readonly seq: Int32Array
  private readonly first: (CpuAt | undefined)[]
  private gate: Int32Array | undefined

  constructor(private readonly options: WorkerMetricsOptions) {
    this.p = options.sourceParallelism
    this.events = options.events
    this.clock = options.clock ?? monotonicMs
    this.counts = new Int32Array(this.p)
    this.maxTs = new Float64Array(this.p).fill(Number.NEGATIVE_INFINITY)
    const batch = options.batch ?? BATCH
    this.buffers = Array.from({ length: this.p }, () => new Float64Array(2 * batch))
    this.fill = new Int32Array(this.p)
    this.seq = new Int32Array(this.p)
    this.first = new Array<CpuAt | undefined>(this.p)
  }

  private open(): BroadcastChannel {
    if (!this.channel) {
      this.channel = new BroadcastChannel(this.options.channel)
      // Posting enqueues at the receivers at once: the worker may exit right after.
      this.channel.unref()
    }
    return this.channel
  }

  private post(m: MetricsMessage): void {
    this.open().postMessage(m)
  }

  /**
   * In a worker, while the job module builds: gets the start gate from the main thread. The
   * sources of this thread then wait at their first event until the main thread opens it.
   */
  async awaitGate(): Promise<void> {
    const channel = this.open()
    let onMessage: ((e: Event) => void) | undefined
    channel.ref()
    try {
      this.gate = await new Promise<Int32Array>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no start gate from the main thread on ${this.options.channel} within ${GATE_TIMEOUT_MS} ms`)), GATE_TIMEOUT_MS)
        onMessage = (e) => {
          const m = (e as MessageEvent).data as MetricsMessage
          if (m.kind !== 'gate') return
          clearTimeout(timer)
          resolve(new Int32Array(m.flag))
        }
        channel.addEventListener('message', onMessage)
        channel.postMessage({ kind: 'gate-request' } satisfies GateRequest)
      })
    } finally {
      if (onMessage) channel.removeEventListener('message', onMessage)
      channel.unref()
    }
  }

  /** Blocks this thread until the gate is open (no-op without a gate, or once open). */
  private passGate(): void {
    const gate = this.gate
    if (gate === undefined || Atomics.load(gate, 0) === 1) return
    if (Atomics.wait(gate, 0, 0, GATE_TIMEOUT_MS) === 'timed-out') throw new Error(`the start gate on ${this.options.channel} did not open within ${GATE_TIMEOUT_MS} ms`)
  }

  /** Source hook: event `index` was generated (by subtask index mod parallelism). */
  readonly observe = (index: number, e: NexmarkEvent): void => {
    const s = index % this.p
    if (e.dateTime > this.maxTs[s]) this.maxTs[s] = e.dateTime
    if (this.counts[s]++ % PROGRESS_EVERY === 0) this.log(s)
    if (index + this.p >= this.events) this.postProgress(s, true)
  }

  private log(s: number): void {
    // A subtask's first event is logged: wait for the gate there, not on every event.
    if (this.first[s] === undefined) this.passGate()
    const at = this.clock()
    if (this.first[s] === undefined) this.first[s] = { at, cpuUs: cpuNow() }
    const buf = this.buffers[s]
    buf[this.fill[s]++] = this.maxTs[s]
    buf[this.fill[s]++] = at
    if (this.fill[s] === buf.length) this.postProgress(s, false)
  }

  private postProgress(s: number, final: boolean): void {
    const seq = this.seq[s]++
    const m: ProgressBatch = { kind: 'progress', subtask: s, seq, entries: this.buffers[s].slice(0, this.fill[s]) }
    if (seq === 0 && this.first[s]) m.first = this.first[s]
    if (final) m.final = { events: this.counts[s] }
    this.fill[s] = 0
    this.post(m)
  }

  /** A sink that samples its outputs and posts them (and its end of input). */
  sink<T>(): Sink<T> {
    return { name: 'nexmark-sink', createWriter: (ctx) => this.writer<T>(ctx) }
  }

  private writer<T>(ctx: SinkWriterContext): SinkWriter<T> {
    const processing = this.options.mode === 'processing'
    const clock = this.clock
    let outputs = 0
    let stride = 1
    let kept = 0
    let seq = 0
    const buf = new Float64Array(3 * (this.options.batch ?? BATCH))
    let fill = 0
    const send = (final: SampleBatch['final']): void => {
      const m: SampleBatch = { kind: 'samples', subtask: ctx.subtaskIndex, parallelism: ctx.parallelism, seq: seq++, entries: buf.slice(0, fill) }
      if (final) m.final = final
      this.post(m)
      fill = 0
    }
    return {
      write: (_value, ts) => {
        const n = outputs++
        if (n % stride !== 0 || ts === undefined) return
        buf[fill++] = n
        buf[fill++] = processing ? Date.now() : clock()
        buf[fill++] = ts
        if (fill === buf.length) send(undefined)
        if (++kept >= MAX_SAMPLES) {
          stride *= 2
          kept >>= 1
        }
      },
      flush: () => {
        const end = { at: clock(), cpuUs: cpuNow() }
        send({ outputs, stride, end })
      },
    }
  }
}

/** What a run on workers measured, merged from every subtask's reports. */
export interface MergedRunMetrics {
  /** First event generated by any source subtask / last sink subtask's end of input (monotonicMs). */
  firstEventAt: number
  lastSinkEndAt: number
  /** Last source subtask's first event − first source subtask's first event (workers start one by one). */
  sourceStartSkewMs: number
  /** Process CPU time (all threads) from the first event to the last sink's end, ms. */
  cpuMs: number
  outputs: number
  /** Events the source subtasks reported. */
  sourceEvents: number
  /** Latencies of the sampled outputs, ms (unsorted). */
  latencies(watermarkDelayMs: number): number[]
}

/**
 * The main-thread side: listens on a fresh channel (pass `channelName` to the job module), then
 * `finish()` after the job ended waits for every subtask's final batch and merges.
 */
export class WorkerMetricsCollector {
  readonly channelName = `fluxion-nexmark-metrics-${process.pid}-${Math.random().toString(36).slice(2)}`
  private readonly channel: BroadcastChannel
  private readonly progress = new Map<number, ProgressBatch[]>()
  private readonly samples = new Map<number, SampleBatch[]>()
  private readonly finalSources = new Set<number>()
  private readonly finalSinks = new Set<number>()
  private sinkParallelism = 0
  private onChange: (() => void) | undefined
  private readonly gate = new Int32Array(new SharedArrayBuffer(4))

  constructor(
    private readonly mode: LatencyMode,
    private readonly sourceParallelism: number,
    private readonly events: number,
  ) {
    this.channel = new BroadcastChannel(this.channelName)
    this.channel.onmessage = (e) => this.receive((e as { data: MetricsMessage }).data)
  }

  /** Stops listening (finish() does it; call it when the job failed). */
  close(): void {
    this.channel.close()
  }

  /** Lets the sources start (call when every worker has deployed its subtasks). */
  openGate(): void {
    Atomics.store(this.gate, 0, 1)
    Atomics.notify(this.gate, 0)
  }

  private receive(m: MetricsMessage): void {
    if (m.kind === 'gate' || m.kind === 'gate-request') {
      if (m.kind === 'gate-request') this.channel.postMessage({ kind: 'gate', flag: this.gate.buffer as SharedArrayBuffer } satisfies Gate)
      return
    }
    if (m.kind === 'progress') {
      push(this.progress, m.subtask, m)
      if (m.final) this.finalSources.add(m.subtask)
    } else {
      push(this.samples, m.subtask, m)
      this.sinkParallelism = m.parallelism
      if (m.final) this.finalSinks.add(m.subtask)
    }
    this.onChange?.()
  }

  /** Source subtasks that generate at least one event. */
  private get expectedSources(): number {
    return Math.min(this.sourceParallelism, this.events)
  }

  private complete(): boolean {
    return this.finalSources.size === this.expectedSources && this.sinkParallelism > 0 && this.finalSinks.size === this.sinkParallelism
  }

  /** Waits (at most `timeoutMs`) for every subtask's final batch, closes the channel and merges. */
  async finish(timeoutMs = 10_000): Promise<MergedRunMetrics> {
    try {
      if (!this.complete()) {
        await new Promise<void>((resolve, reject) => {
          const timer = setTimeout(() => {
            reject(
              new Error(
                `worker metrics incomplete after ${timeoutMs} ms: final reports of ${this.finalSources.size}/${this.expectedSources} source and ${this.finalSinks.size}/${this.sinkParallelism || '?'} sink subtasks`,
              ),
            )
          }, timeoutMs)
          this.onChange = () => {
            if (!this.complete()) return
            clearTimeout(timer)
            resolve()
          }
        })
      }
    } finally {
      this.onChange = undefined
      this.channel.close()
    }
    return this.merge()
  }

  private merge(): MergedRunMetrics {
    const progress: SourceProgress[] = []
    let first: CpuAt | undefined
    let lastFirstAt = Number.NEGATIVE_INFINITY
    let sourceEvents = 0
    for (let s = 0; s < this.sourceParallelism; s++) {
      const batches = (this.progress.get(s) ?? []).sort((a, b) => a.seq - b.seq)
      const entries = concat(batches.map((b) => b.entries))
      const ts: number[] = []
      const at: number[] = []
      for (let i = 0; i < entries.length; i += 2) {
        ts.push(entries[i])
        at.push(entries[i + 1])
      }
      progress.push({ ts, at })
      const f = batches[0]?.first
      if (f) {
        if (!first || f.at < first.at) first = f
        lastFirstAt = Math.max(lastFirstAt, f.at)
      }
      sourceEvents += batches.find((b) => b.final)?.final?.events ?? 0
    }
    let end: CpuAt | undefined
    let outputs = 0
    let stride = 1
    const sinkEntries: Float64Array[] = []
    for (const batches of this.samples.values()) {
      batches.sort((a, b) => a.seq - b.seq)
      const final = batches.find((b) => b.final)!.final!
      outputs += final.outputs
      stride = Math.max(stride, final.stride)
      if (!end || final.end.at > end.at) end = final.end
      sinkEntries.push(concat(batches.map((b) => b.entries)))
    }
    // One stride for all sink subtasks, doubled until fewer than MAX_SAMPLES remain.
    const keptAt = (s: number): number => sinkEntries.reduce((k, e) => k + countMultiples(e, s), 0)
    while (keptAt(stride) >= MAX_SAMPLES) stride *= 2
    const wall: number[] = []
    const ts: number[] = []
    for (const e of sinkEntries) {
      for (let i = 0; i < e.length; i += 3) {
        if (e[i] % stride !== 0) continue
        wall.push(e[i + 1])
        ts.push(e[i + 2])
      }
    }
    const mode = this.mode
    return {
      firstEventAt: first?.at ?? Number.NaN,
      lastSinkEndAt: end?.at ?? Number.NaN,
      sourceStartSkewMs: first ? lastFirstAt - first.at : Number.NaN,
      cpuMs: first && end ? (end.cpuUs - first.cpuUs) / 1000 : Number.NaN,
      outputs,
      sourceEvents,
      latencies: (watermarkDelayMs) => latenciesOf(mode, progress, { wall, ts }, watermarkDelayMs),
    }
  }
}

function push<K, V>(map: Map<K, V[]>, key: K, value: V): void {
  const list = map.get(key)
  if (list) list.push(value)
  else map.set(key, [value])
}

function concat(parts: readonly Float64Array[]): Float64Array {
  const out = new Float64Array(parts.reduce((n, p) => n + p.length, 0))
  let offset = 0
  for (const p of parts) {
    out.set(p, offset)
    offset += p.length
  }
  return out
}

/** Samples (triples) whose output index is a multiple of `stride`. */
function countMultiples(entries: Float64Array, stride: number): number {
  let n = 0
  for (let i = 0; i < entries.length; i += 3) if (entries[i] % stride === 0) n++
  return n
}
