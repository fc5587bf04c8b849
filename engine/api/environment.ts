/**
 * StreamExecutionEnvironment: creates sources, collects sinks, and runs jobs on this thread.
 */
import { availableParallelism, tmpdir } from 'node:os'
import { join } from 'node:path'
import { FluxionError } from '../errors.ts'
import { DEFAULT_MAX_PARALLELISM } from '../keys.ts'
import { buildJobGraph, describeJobGraph, type JobGraph } from '../graph/job-graph.ts'
import { Transformation } from '../graph/transformation.ts'
import { JobRunner, type SavepointResult } from '../runtime/job-runner.ts'
import { validateRestartStrategy, type RestartStrategyConfig } from '../runtime/restart-strategy.ts'
import type { CheckpointConfig } from '../checkpoint/coordinator.ts'
import type { CheckpointStats } from '../checkpoint/types.ts'
import type { MetricSample } from '../metrics.ts'
import { SourceOperator } from '../runtime/source-operator.ts'
import { WorkerAttempts } from '../runtime/workers/worker-attempt.ts'
import type { JobParams } from './define-job.ts'
import type { Source } from '../source.ts'
import { SystemClock, type Clock } from '../time.ts'
import { WatermarkStrategy } from '../watermarks.ts'
import { SinkOperator } from '../../operators/sink.ts'
import { CollectionSource } from '../../connectors/collection-source.ts'
import { GeneratorSource, type GeneratorSourceOptions } from '../../connectors/generator-source.ts'
import { JsonLinesSource } from '../../connectors/json-lines-source.ts'
import { CollectSink } from '../../connectors/sinks.ts'
import { DataStream, checkParallelism } from './data-stream.ts'

export interface EnvironmentOptions {
  /** Default parallelism of operators (default 1). */
  parallelism?: number
  /** Number of key groups; the upper bound of any parallelism, fixed for the life of the state (default 128). */
  maxParallelism?: number
  /** Records per batch between tasks and per source poll (default 1024). */
  batchSize?: number
  /** Records a channel may queue before its producer pauses (default 8 × batchSize). */
  channelCapacity?: number
  /** Processing time between periodic watermarks while a source waits for data (default 200 ms). */
  autoWatermarkIntervalMs?: number
  /** Processing-time clock (default: the system clock). Tests pass a ManualClock. */
  clock?: Clock
  /** Where keyed state lives: 'memory' (default) or 'rocksdb' (larger than memory; working copies in stateDir). */
  stateBackend?: 'memory' | 'rocksdb'
  /** Directory for RocksDB working copies (default: a folder in the OS temp dir). Checkpoints go to checkpoint.dir. */
  stateDir?: string
  /** Turns on checkpointing: exactly-once state and two-phase-commit sinks, restarts, savepoints. */
  checkpoint?: CheckpointConfig
  /**
   * Run the subtasks on worker threads: a number of workers, or true for one per core (DESIGN.md §3).
   * Needs a job module (`loadJob`); without it every subtask runs on the current thread.
   */
  workers?: number | boolean
  /** What to do when the job fails (default: fail). Needs checkpoint to restart from. */
  restartStrategy?: RestartStrategyConfig
}

export interface ResolvedConfig {
  readonly parallelism: number
  readonly maxParallelism: number
  readonly batchSize: number
  readonly channelCapacity: number
  readonly autoWatermarkIntervalMs: number
  readonly clock: Clock
  readonly checkpoint: CheckpointConfig | undefined
  readonly restartStrategy: RestartStrategyConfig | undefined
  readonly stateBackend: 'memory' | 'rocksdb'
  /** Where RocksDB keeps its working copies (default: the OS temp dir). */
  readonly stateDir: string
  /** Worker threads to run subtasks on; 0: the current thread. */
  readonly workers: number
}

/** The module a job was loaded from (by loadJob): what workers import to build the same graph. */
export interface JobModuleRef {
  url: string
  params: JobParams
  /** The streams the build function returned. */
  outputs: readonly DataStream<any>[]
}

export interface TaskReport {
  name: string
  subtask: number
  recordsIn: number
  recordsOut: number
  /** Highest number of records queued on the task's input channels. */
  peakQueuedRecords: number
}

export interface JobExecutionResult {
  jobName: string
  netRuntimeMs: number
  /** Times the job restarted from a checkpoint after a failure. */
  restarts: number
  tasks: TaskReport[]
}

export interface ExecuteOptions {
  /** Start from a checkpoint or savepoint: 'latest' (under checkpoint.dir, if any) or a …/chk-<n> directory. */
  restoreFrom?: string
  /** Receives what the runtime reports (restarts, skipped corrupt checkpoints); default: console.warn. */
  log?: (message: string) => void
}

export interface JobClient {
  readonly jobName: string
  /** Settles when the job finishes (bounded input), fails, or is cancelled. */
  readonly result: Promise<JobExecutionResult>
  /** Stops the job; `result` then rejects with FLX_JOB_CANCELLED. */
  cancel(): void
  /** Live per-task numbers. */
  tasks(): TaskReport[]
  /** Takes a savepoint (needs checkpointing); restore it later with execute(name, { restoreFrom: path }). */
  triggerSavepoint(): Promise<SavepointResult>
  restarts(): number
  /** Costs of recent checkpoints: completion time, duration, barrier pause (maxSyncMs), bytes and keyed-state rows written. */
  checkpointStats(): CheckpointStats[]
  /** The job's counters (e.g. `fluxion_source_dead_letters_total{source, reason}`), across restarts. */
  metrics(): MetricSample[]
}

const KNOWN_OPTIONS = new Set<keyof EnvironmentOptions>([
  'parallelism',
  'maxParallelism',
  'batchSize',
  'channelCapacity',
  'autoWatermarkIntervalMs',
  'clock',
  'stateBackend',
  'stateDir',
  'checkpoint',
  'workers',
  'restartStrategy',
])

type CollectedArrays<S extends readonly DataStream<any>[]> = { [I in keyof S]: S[I] extends DataStream<infer T> ? T[] : never }

export class StreamExecutionEnvironment {
  readonly config: ResolvedConfig
  /** @internal Set by loadJob: the job module that workers import. */
  jobModule: JobModuleRef | undefined
  private sinks: Transformation[] = []

  private constructor(config: ResolvedConfig) {
    this.config = config
  }

  /** Validates `options` (bad options fail here, not mid-stream) and creates an in-process environment. */
  static create(options: EnvironmentOptions = {}): StreamExecutionEnvironment {
    return new StreamExecutionEnvironment(resolveOptions(options))
  }

  /** A non-parallel source of the given elements (one subtask), as Flink's fromCollection. */
  fromCollection<T>(items: readonly T[], strategy: WatermarkStrategy<T> = WatermarkStrategy.noWatermarks<T>(), name = 'collection-source'): DataStream<T> {
    if (!Array.isArray(items)) throw new FluxionError('FLX_INVALID_CONFIG', 'fromCollection needs an array')
    return this.fromSource(new CollectionSource(items, name), strategy, name)
  }

  /** A parallel generated source: record i is generate(i). */
  fromGenerator<T>(generate: (index: number) => T, options: GeneratorSourceOptions = {}, strategy: WatermarkStrategy<T> = WatermarkStrategy.noWatermarks<T>()): DataStream<T> {
    if (typeof generate !== 'function') throw new FluxionError('FLX_INVALID_CONFIG', 'fromGenerator needs a function (index) => record')
    return this.fromSource(new GeneratorSource(generate, options), strategy, options.name ?? 'generator-source')
  }

  /** Reads JSON Lines files (one subtask per file at most). */
  readJsonLines<T>(paths: string | readonly string[], strategy: WatermarkStrategy<T> = WatermarkStrategy.noWatermarks<T>()): DataStream<T> {
    const list = typeof paths === 'string' ? [paths] : [...paths]
    const source = new JsonLinesSource<T>(list)
    const stream = this.fromSource(source, strategy, source.name)
    if (list.length === 1) stream.setParallelism(1)
    return stream
  }

  /** A stream from any Source. */
  fromSource<T>(source: Source<T>, strategy: WatermarkStrategy<T>, name = source.name): DataStream<T> {
    if (!(strategy instanceof WatermarkStrategy)) {
      throw new FluxionError('FLX_INVALID_CONFIG', `source "${name}": the second argument must be a WatermarkStrategy, e.g. WatermarkStrategy.forBoundedOutOfOrderness(5_000)`)
    }
    const t = Transformation.source(name, () => new SourceOperator(source, strategy), source.maxParallelism)
    return new DataStream<T>(this, t)
  }

  /** @internal Called by sinkTo. */
  registerSink(t: Transformation): void {
    this.sinks.push(t)
  }

  /** The physical plan of the sinks defined so far (plus `extraSinks`). */
  getJobGraph(name = 'fluxion-job', extraSinks: readonly Transformation[] = []): JobGraph {
    const sinks = [...this.sinks, ...extraSinks]
    if (sinks.length === 0) {
      throw new FluxionError('FLX_INVALID_TOPOLOGY', 'the job has no sinks, so nothing would run. Add sinkTo(...)/print() to a stream, or use executeAndCollect(stream).')
    }
    return buildJobGraph(sinks, { name, defaultParallelism: this.config.parallelism, maxParallelism: this.config.maxParallelism })
  }

  /** The plan as JSON, for logs and debugging. */
  getExecutionPlan(name?: string): string {
    return JSON.stringify(describeJobGraph(this.getJobGraph(name)), null, 2)
  }

  /** Runs the job until its bounded inputs end (forever for unbounded ones). */
  async execute(jobName = 'fluxion-job', options: ExecuteOptions = {}): Promise<JobExecutionResult> {
    return this.executeAsync(jobName, options).result
  }

  /** Starts the job and returns at once with a handle to watch, savepoint or cancel it. */
  executeAsync(jobName = 'fluxion-job', options: ExecuteOptions = {}, extraSinks: readonly Transformation[] = []): JobClient {
    const graph = this.getJobGraph(jobName, extraSinks)
    this.sinks = []
    const config = this.config
    for (const v of graph.vertices) v.transformation.details.sink?.checkJob?.({ checkpointing: config.checkpoint !== undefined })
    if (options.restoreFrom !== undefined && typeof options.restoreFrom !== 'string') {
      throw new FluxionError('FLX_INVALID_CONFIG', "restoreFrom must be 'latest' or the path of a checkpoint or savepoint directory (…/chk-<n>)")
    }
    const remote = config.workers > 0 ? this.workerAttempts(graph, jobName, extraSinks) : undefined
    const runner = new JobRunner(graph, {
      jobName,
      clock: config.clock,
      batchSize: config.batchSize,
      channelCapacity: config.channelCapacity,
      autoWatermarkIntervalMs: config.autoWatermarkIntervalMs,
      checkpoint: config.checkpoint,
      restartStrategy: config.restartStrategy,
      restoreFrom: options.restoreFrom,
      log: options.log,
      stateBackend: config.stateBackend,
      stateDir: config.stateDir,
      remote,
    })
    const report = (): TaskReport[] =>
      runner.tasks.map((t) => ({ name: t.name, subtask: t.subtaskIndex, recordsIn: t.metrics.recordsIn, recordsOut: t.metrics.recordsOut, peakQueuedRecords: t.peakQueuedRecords() }))
    const started = performance.now()
    const result = runner.run().then(() => ({ jobName, netRuntimeMs: performance.now() - started, restarts: runner.restarts, tasks: report() }))
    return {
      jobName,
      result,
      cancel: () => runner.cancel(),
      tasks: report,
      triggerSavepoint: () => runner.triggerSavepoint(),
      checkpointStats: () => runner.checkpointStats(),
      restarts: () => runner.restarts,
      metrics: () => runner.metrics.samples(),
    }
  }

  /** Runs the job to the end of its input and returns the records of each given stream. */
  async executeAndCollect<S extends readonly DataStream<any>[]>(...streams: S): Promise<CollectedArrays<S>> {
    if (streams.length === 0) throw new FluxionError('FLX_INVALID_CONFIG', 'executeAndCollect needs at least one stream')
    const arrays = streams.map(() => [] as unknown[])
    for (const s of streams) if (s.env !== this) throw new FluxionError('FLX_INVALID_TOPOLOGY', 'executeAndCollect: every stream must come from this environment')
    await this.executeAsync('collect', {}, collectorTransformations(streams, arrays)).result
    return arrays as CollectedArrays<S>
  }

  /** Attempts on worker threads: each worker imports the job module and builds the same graph. */
  private workerAttempts(graph: JobGraph, jobName: string, extraSinks: readonly Transformation[]): WorkerAttempts {
    const module = this.jobModule
    if (!module) {
      throw new FluxionError(
        'FLX_INVALID_CONFIG',
        'workers need a job module: define the job with defineJob in a file and load it with loadJob(file, params, { workers }) (or run it with npm run job -- <file> --workers N), so that every worker can import it and build the same graph',
      )
    }
    // executeAndCollect: each worker adds the same collectors to the streams the build returned.
    const collect = extraSinks.map((t) => {
      const i = module.outputs.findIndex((o) => o.transformation === t.inputs[0])
      if (i < 0 || !(t.details.sink instanceof CollectSink)) {
        throw new FluxionError('FLX_INVALID_CONFIG', 'with workers, executeAndCollect can collect only streams that the job\'s build function returns (return them from defineJob((env, params) => …))')
      }
      return i
    })
    const c = this.config
    return new WorkerAttempts({
      moduleUrl: module.url,
      params: module.params,
      jobName,
      graph,
      workers: c.workers,
      clock: c.clock,
      collect: collect.length > 0 ? collect : undefined,
      options: {
        parallelism: c.parallelism,
        maxParallelism: c.maxParallelism,
        batchSize: c.batchSize,
        channelCapacity: c.channelCapacity,
        autoWatermarkIntervalMs: c.autoWatermarkIntervalMs,
        stateBackend: c.stateBackend,
        stateDir: c.stateDir,
        checkpoint: c.checkpoint,
      },
    })
  }
}

/** The sinks executeAndCollect adds: one CollectSink per stream, into `arrays[i]`. */
export function collectorTransformations(streams: readonly DataStream<any>[], arrays: unknown[][]): Transformation[] {
  return streams.map((s, i) => {
    const sink = new CollectSink(arrays[i])
    const t = Transformation.operator(`collect-${i}`, [s.transformation], () => new SinkOperator(sink), { isSink: true, sink })
    if (s.transformation.isPhysical) t.parallelism = s.transformation.parallelism
    return t
  })
}


function resolveOptions(options: EnvironmentOptions): ResolvedConfig {
  if (options === null || typeof options !== 'object') throw new FluxionError('FLX_INVALID_CONFIG', 'StreamExecutionEnvironment.create(options): options must be an object')
  for (const key of Object.keys(options)) {
    if (!KNOWN_OPTIONS.has(key as keyof EnvironmentOptions)) {
      throw new FluxionError('FLX_INVALID_CONFIG', `unknown option "${key}" in StreamExecutionEnvironment.create(); known options: ${[...KNOWN_OPTIONS].join(', ')}`)
    }
  }
  const maxParallelism = options.maxParallelism ?? DEFAULT_MAX_PARALLELISM
  if (!Number.isInteger(maxParallelism) || maxParallelism < 1 || maxParallelism > 32_768) {
    throw new FluxionError('FLX_INVALID_CONFIG', `maxParallelism must be an integer between 1 and 32768, got ${String(options.maxParallelism)}`)
  }
  const parallelism = options.parallelism ?? 1
  checkParallelism(parallelism, maxParallelism, 'StreamExecutionEnvironment.create')
  const batchSize = options.batchSize ?? 1024
  if (!Number.isInteger(batchSize) || batchSize < 1) throw new FluxionError('FLX_INVALID_CONFIG', `batchSize must be an integer >= 1, got ${String(options.batchSize)}`)
  const channelCapacity = options.channelCapacity ?? 8 * batchSize
  if (!Number.isInteger(channelCapacity) || channelCapacity < batchSize) {
    throw new FluxionError('FLX_INVALID_CONFIG', `channelCapacity must be an integer >= batchSize (${batchSize}), got ${String(options.channelCapacity)}`)
  }
  const autoWatermarkIntervalMs = options.autoWatermarkIntervalMs ?? 200
  if (!(autoWatermarkIntervalMs > 0) || !Number.isFinite(autoWatermarkIntervalMs)) {
    throw new FluxionError('FLX_INVALID_CONFIG', `autoWatermarkIntervalMs must be a finite number > 0, got ${String(options.autoWatermarkIntervalMs)}`)
  }
  const stateBackend = options.stateBackend ?? 'memory'
  if (stateBackend !== 'memory' && stateBackend !== 'rocksdb') {
    throw new FluxionError('FLX_INVALID_CONFIG', `stateBackend must be 'memory' or 'rocksdb', got ${JSON.stringify(options.stateBackend)}`)
  }
  if (options.stateDir !== undefined && (typeof options.stateDir !== 'string' || options.stateDir.length === 0)) {
    throw new FluxionError('FLX_INVALID_CONFIG', 'stateDir must be a directory path for the RocksDB working copies')
  }
  const workers = resolveWorkers(options.workers)
  const checkpoint = validateCheckpointConfig(options.checkpoint)
  if (workers > 0 && options.clock !== undefined && !(options.clock instanceof SystemClock)) {
    throw new FluxionError('FLX_INVALID_CONFIG', 'a custom clock cannot cross to worker threads: workers use the system clock; remove clock or workers')
  }
  validateRestartStrategy(options.restartStrategy)
  if (options.restartStrategy && options.restartStrategy.type !== 'none' && !checkpoint) {
    throw new FluxionError('FLX_INVALID_CONFIG', 'restartStrategy needs checkpoint: { intervalMs, dir }: a restart resumes from the latest checkpoint')
  }
  return {
    parallelism,
    maxParallelism,
    batchSize,
    channelCapacity,
    autoWatermarkIntervalMs,
    clock: options.clock ?? new SystemClock(),
    checkpoint,
    restartStrategy: options.restartStrategy,
    stateBackend,
    stateDir: options.stateDir ?? join(tmpdir(), 'fluxion-state'),
    workers,
  }
}

/** `workers`: a count (1–256), true for one per core, false/undefined for the current thread (0). */
function resolveWorkers(workers: number | boolean | undefined): number {
  if (workers === undefined || workers === false) return 0
  if (workers === true) return availableParallelism()
  if (!Number.isInteger(workers) || workers < 1 || workers > 256) {
    throw new FluxionError('FLX_INVALID_CONFIG', `workers must be true (one per core), false, or an integer between 1 and 256, got ${String(workers)}`)
  }
  return workers
}

function validateCheckpointConfig(c: CheckpointConfig | undefined): CheckpointConfig | undefined {
  if (c === undefined) return undefined
  const bad = (why: string) => new FluxionError('FLX_INVALID_CONFIG', `checkpoint.${why}`)
  if (typeof c !== 'object' || c === null) throw new FluxionError('FLX_INVALID_CONFIG', 'checkpoint must be an object { intervalMs, dir, retain? }')
  if (!(c.intervalMs > 0) || !Number.isFinite(c.intervalMs)) throw bad(`intervalMs must be a finite number > 0, got ${String(c.intervalMs)}`)
  if (typeof c.dir !== 'string' || c.dir.length === 0) throw bad('dir must be a directory path for checkpoint files')
  if (c.retain !== undefined && (!Number.isInteger(c.retain) || c.retain < 1)) throw bad(`retain must be an integer >= 1, got ${String(c.retain)}`)
  if (c.timeoutMs !== undefined && !(c.timeoutMs > 0)) throw bad(`timeoutMs must be > 0, got ${String(c.timeoutMs)}`)
  if (c.fullEvery !== undefined && (!Number.isInteger(c.fullEvery) || c.fullEvery < 1)) throw bad(`fullEvery must be an integer >= 1, got ${String(c.fullEvery)}`)
  return { ...c }
}
