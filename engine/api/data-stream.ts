/**
 * DataStream and KeyedStream: the typed, fluent API that builds the logical graph (DESIGN.md §2).
 * Nothing runs until the environment executes.
 */
import { FluxionError } from '../errors.ts'
import { Transformation } from '../graph/transformation.ts'
import type { Collector } from '../output.ts'
import type { OutputTag } from '../output-tag.ts'
import { FilterOperator } from '../../operators/filter.ts'
import { FlatMapOperator } from '../../operators/flat-map.ts'
import { KeyedReduceOperator } from '../../operators/keyed-reduce.ts'
import { MapOperator } from '../../operators/map.ts'
import { ProcessOperator } from '../../operators/process.ts'
import type { KeyedProcessFunction, ProcessFunction } from '../../operators/process-function.ts'
import { SinkOperator, type Sink } from '../../operators/sink.ts'
import { JsonLinesFileSink, PrintSink } from '../../connectors/sinks.ts'
import type { WindowAssigner } from '../../operators/window/assigners.ts'
import type { StreamExecutionEnvironment } from './environment.ts'
import { WindowedStream } from './windowed-stream.ts'
import { IntervalJoinBuilder, JoinBuilder } from './joins.ts'

export type KeySelector<T, K> = (value: T) => K

export class DataStream<T> {
  constructor(
    readonly env: StreamExecutionEnvironment,
    /** @internal */
    readonly transformation: Transformation,
  ) {}

  /** @internal Adds a one-input operator downstream of this stream. */
  transform<R>(name: string, factory: () => import('../operator.ts').StreamOperator<T, R>, options: { keyed?: boolean } = {}): DataStream<R> {
    return new DataStream<R>(this.env, Transformation.operator(name, [this.transformation], factory, options))
  }

  map<R>(fn: (value: T) => R, name = 'map'): DataStream<R> {
    requireFunction(fn, 'map')
    return this.transform(name, () => new MapOperator(fn), this.keyedOptions())
  }

  /**
   * Keeps the records for which `predicate` returns true. With a type guard (`(v: T) => v is S`)
   * the result is a DataStream<S>: e.g. `events.filter(isBid)` narrows a union without a cast.
   */
  filter<S extends T>(predicate: (value: T) => value is S, name?: string): DataStream<S>
  filter(predicate: (value: T) => boolean, name?: string): DataStream<T>
  filter(predicate: (value: T) => boolean, name = 'filter'): DataStream<T> {
    requireFunction(predicate, 'filter')
    return this.transform(name, () => new FilterOperator(predicate), this.keyedOptions())
  }

  /** Calls `fn` with a collector for each record: emit zero, one or many records. */
  flatMap<R>(fn: (value: T, out: Collector<R>) => void, name = 'flatMap'): DataStream<R> {
    requireFunction(fn, 'flatMap')
    return this.transform(name, () => new FlatMapOperator(fn), this.keyedOptions())
  }

  /** Runs a ProcessFunction (side outputs; timers and state need keyBy first). */
  process<R>(fn: ProcessFunction<T, R>, name = 'process'): DataStream<R> {
    if (typeof fn?.processElement !== 'function') throw invalidFunction('process', 'an object with a processElement(value, ctx, out) method')
    const out = this.transform<R>(name, () => new ProcessOperator<never, T, R>(cloneFunction(fn) as KeyedProcessFunction<never, T, R>), this.keyedOptions())
    out.transformation.sideOutputs = fn.sideOutputs ? new Set(fn.sideOutputs.map((t) => t.id)) : 'any'
    return out
  }

  /** Operators after keyBy are keyed only when the API says so (KeyedStream overrides). */
  protected keyedOptions(): { keyed?: boolean } {
    return {}
  }

  /** Merges streams of the same type. */
  union(...others: DataStream<T>[]): DataStream<T> {
    for (const o of others) if (o.env !== this.env) throw new FluxionError('FLX_INVALID_TOPOLOGY', 'union: all streams must come from the same StreamExecutionEnvironment')
    return new DataStream<T>(this.env, Transformation.union([this.transformation, ...others.map((o) => o.transformation)]))
  }

  /** Partitions the stream by key: records with equal keys go to the same subtask and share state. */
  keyBy<K>(keySelector: KeySelector<T, K>, name = 'keyBy'): KeyedStream<T, K> {
    requireFunction(keySelector, 'keyBy')
    const partition = Transformation.partition(this.transformation, { kind: 'keyHash', keySelector, maxParallelism: this.env.config.maxParallelism, name })
    return new KeyedStream<T, K>(this.env, partition, keySelector)
  }

  /** Sends every record to every downstream subtask. */
  broadcast(): DataStream<T> {
    return new DataStream<T>(this.env, Transformation.partition(this.transformation, { kind: 'broadcast' }))
  }

  /** Distributes records round-robin over the downstream subtasks. */
  rebalance(): DataStream<T> {
    return new DataStream<T>(this.env, Transformation.partition(this.transformation, { kind: 'rebalance' }))
  }

  /**
   * @deprecated Windows need a key: on a non-keyed stream this always throws FLX_WINDOW_WITHOUT_KEYBY.
   * Use keyBy(...).window(...) or windowAll(...).
   */
  window(_assigner: WindowAssigner<T>): WindowedStream<T, any> {
    throw new FluxionError(
      'FLX_WINDOW_WITHOUT_KEYBY',
      'window(...) needs a keyed stream. Call keyBy(keySelector).window(...) for per-key windows, or windowAll(...) for one window over the whole stream (parallelism 1).',
    )
  }

  /** Windows over the whole stream, computed by a single subtask (Flink's windowAll). */
  windowAll(assigner: WindowAssigner<T>): WindowedStream<T, 0> {
    const keyed = this.keyBy(() => 0 as const, 'windowAll')
    return new WindowedStream<T, 0>(keyed, assigner, { parallelism: 1 })
  }

  /** Window join with another stream: a.join(b).where(ka).equalTo(kb).window(w).apply(fn). */
  join<U>(other: DataStream<U>): JoinBuilder<T, U> {
    return new JoinBuilder<T, U>(this, other)
  }

  /** The records the operator of this stream sent to side output `tag`. */
  getSideOutput<X>(tag: OutputTag<X>): DataStream<X> {
    const t = this.transformation
    if (!t.isPhysical) throw new FluxionError('FLX_INVALID_TOPOLOGY', `getSideOutput(${tag.id}) must be called on an operator's stream, not after ${t.kind}`)
    if (t.sideOutputs !== 'any' && !t.sideOutputs.has(tag.id)) {
      const known = [...t.sideOutputs]
      throw new FluxionError(
        'FLX_UNKNOWN_SIDE_OUTPUT',
        `operator "${t.name}" never produces side output "${tag.id}"` +
          (known.length ? ` (it produces: ${known.join(', ')})` : ' (it produces no side outputs)') +
          '. Take the side output from the operator that emits it, e.g. the window with sideOutputLateData(tag).',
      )
    }
    return new DataStream<X>(this.env, Transformation.sideOutput(t, tag as OutputTag<unknown>))
  }

  /** Writes the stream to a sink. */
  sinkTo(sink: Sink<T>, name = sink.name): DataStreamSink {
    const t = Transformation.operator(name, [this.transformation], () => new SinkOperator(sink), { isSink: true, sink })
    this.env.registerSink(t)
    return new DataStreamSink(t, this.env.config.maxParallelism)
  }

  /** Prints every record to stdout. */
  print(prefix = ''): DataStreamSink {
    return this.sinkTo(new PrintSink<T>(prefix), 'print')
  }

  /** Writes every record as a JSON line to `path`. */
  writeAsJsonLines(path: string): DataStreamSink {
    return this.sinkTo(new JsonLinesFileSink<T>(path))
  }

  /** Names the operator (shown in errors, metrics and plans). */
  name(name: string): this {
    this.physical('name').name = name
    return this
  }

  /** A stable id of the operator, used to match state in savepoints. */
  uid(uid: string): this {
    this.physical('uid').uid = uid
    return this
  }

  setParallelism(parallelism: number): this {
    const t = this.physical('setParallelism')
    checkParallelism(parallelism, this.env.config.maxParallelism, t.name)
    const max = t.details.maxSourceParallelism
    if (max !== undefined && parallelism > max) {
      throw new FluxionError('FLX_INVALID_CONFIG', `source "${t.name}" supports at most parallelism ${max}, got ${parallelism}`)
    }
    t.parallelism = parallelism
    return this
  }

  private physical(method: string): Transformation {
    if (!this.transformation.isPhysical) {
      throw new FluxionError('FLX_INVALID_TOPOLOGY', `${method}(...) applies to an operator; this stream is a ${this.transformation.kind} (call it on the operator before keyBy/union)`)
    }
    return this.transformation
  }
}

export class KeyedStream<T, K> extends DataStream<T> {
  constructor(
    env: StreamExecutionEnvironment,
    transformation: Transformation,
    /** @internal */
    readonly keySelector: KeySelector<T, K>,
  ) {
    super(env, transformation)
  }

  /** Runs a KeyedProcessFunction with keyed state and timers. */
  override process<R>(fn: KeyedProcessFunction<K, T, R>, name = 'keyedProcess'): DataStream<R> {
    if (typeof fn?.processElement !== 'function') throw invalidFunction('process', 'an object with a processElement(value, ctx, out) method')
    const out = this.transform<R>(name, () => new ProcessOperator<K, T, R>(cloneFunction(fn) as KeyedProcessFunction<K, T, R>), { keyed: true })
    out.transformation.sideOutputs = fn.sideOutputs ? new Set(fn.sideOutputs.map((t) => t.id)) : 'any'
    return out
  }

  protected override keyedOptions(): { keyed?: boolean } {
    return { keyed: true }
  }

  /** Rolling reduce: emits the reduced value of the key after every record. */
  reduce(reducer: (a: T, b: T) => T, name = 'reduce'): DataStream<T> {
    requireFunction(reducer, 'reduce')
    return this.transform(name, () => new KeyedReduceOperator(reducer), { keyed: true })
  }

  /** Per-key windows. */
  override window(assigner: WindowAssigner<T>): WindowedStream<T, K> {
    if (!assigner || typeof assigner.assignWindows !== 'function') {
      throw new FluxionError('FLX_INVALID_WINDOW', 'window(...) needs a window assigner such as TumblingEventTimeWindows.of(60_000)')
    }
    return new WindowedStream<T, K>(this, assigner)
  }

  /** Interval join with another keyed stream. */
  intervalJoin<U>(other: KeyedStream<U, K>): IntervalJoinBuilder<T, U, K> {
    if (!(other instanceof KeyedStream)) throw new FluxionError('FLX_INVALID_TOPOLOGY', 'intervalJoin needs a keyed stream: a.keyBy(k).intervalJoin(b.keyBy(k))')
    return new IntervalJoinBuilder<T, U, K>(this, other)
  }
}

/** The end of a pipeline; lets you name the sink and set its parallelism. */
export class DataStreamSink {
  constructor(
    /** @internal */
    readonly transformation: Transformation,
    private readonly maxParallelism: number,
  ) {}

  name(name: string): this {
    this.transformation.name = name
    return this
  }

  setParallelism(parallelism: number): this {
    checkParallelism(parallelism, this.maxParallelism, this.transformation.name)
    this.transformation.parallelism = parallelism
    return this
  }
}

export function checkParallelism(parallelism: number, maxParallelism: number, where: string): void {
  if (!Number.isInteger(parallelism) || parallelism < 1) {
    throw new FluxionError('FLX_INVALID_CONFIG', `${where}: parallelism must be an integer >= 1, got ${String(parallelism)}`)
  }
  if (parallelism > maxParallelism) {
    throw new FluxionError(
      'FLX_PARALLELISM_TOO_HIGH',
      `${where}: parallelism ${parallelism} is above maxParallelism ${maxParallelism}. Lower the parallelism, or raise maxParallelism in StreamExecutionEnvironment.create({ maxParallelism }).`,
    )
  }
}

function requireFunction(fn: unknown, method: string): void {
  if (typeof fn !== 'function') throw invalidFunction(method, 'a function')
}

function invalidFunction(method: string, expected: string): FluxionError {
  return new FluxionError('FLX_INVALID_TOPOLOGY', `${method}(...) needs ${expected}`)
}

/**
 * Every subtask gets its own copy of a user function object, so instance fields set in `open`
 * (state handles) are per subtask, as in Flink where each subtask deserialises its own instance.
 */
function cloneFunction<F extends object>(fn: F): F {
  return Object.assign(Object.create(Object.getPrototypeOf(fn)), fn) as F
}
