/**
 * The logical graph the API builds: one Transformation per API call. Physical transformations
 * (sources and operators) become job vertices; virtual ones (partition, union, side output) only
 * shape the edges between them, as in Flink.
 */
import type { StreamOperator } from '../operator.ts'
import type { OutputTag } from '../output-tag.ts'
import type { Partitioning } from '../runtime/edge-output.ts'
import type { SourceOperator } from '../runtime/source-operator.ts'
import { DEAD_LETTERS } from '../source.ts'

let nextId = 1

export type TransformationKind = 'source' | 'operator' | 'partition' | 'union' | 'side-output'

export class Transformation {
  readonly id = nextId++
  uid: string | undefined
  /** Undefined: the environment's default parallelism. */
  parallelism: number | undefined
  /** Side outputs the operator may emit: 'any' when unknown (user process functions). */
  sideOutputs: 'any' | Set<string> = new Set()

  private constructor(
    readonly kind: TransformationKind,
    public name: string,
    readonly inputs: readonly Transformation[],
    readonly details: {
      sourceFactory?: () => SourceOperator<any>
      /** Highest parallelism a source supports. */
      maxSourceParallelism?: number
      operatorFactory?: () => StreamOperator<any, any>
      /** The operator's input(s) are keyed: it gets a keyed state backend. */
      keyed?: boolean
      partitioning?: Partitioning
      tag?: OutputTag<unknown>
      /** Sinks are the roots of the graph: only what they reach runs. */
      isSink?: boolean
      /** The sink of a sink operator (to recover its pending commits on restore). */
      sink?: import('../../operators/sink.ts').Sink<any>
    },
  ) {}

  static source(name: string, factory: () => SourceOperator<any>, maxSourceParallelism?: number): Transformation {
    const t = new Transformation('source', name, [], { sourceFactory: factory, maxSourceParallelism })
    t.sideOutputs = new Set([DEAD_LETTERS.id])
    if (maxSourceParallelism === 1) t.parallelism = 1
    return t
  }

  static operator(
    name: string,
    inputs: readonly Transformation[],
    factory: () => StreamOperator<any, any>,
    options: { keyed?: boolean; isSink?: boolean; sink?: import('../../operators/sink.ts').Sink<any> } = {},
  ): Transformation {
    return new Transformation('operator', name, inputs, { operatorFactory: factory, ...options })
  }

  static partition(input: Transformation, partitioning: Partitioning): Transformation {
    return new Transformation('partition', `${partitioning.kind}`, [input], { partitioning })
  }

  static union(inputs: readonly Transformation[]): Transformation {
    return new Transformation('union', 'union', inputs, {})
  }

  static sideOutput(input: Transformation, tag: OutputTag<unknown>): Transformation {
    return new Transformation('side-output', `side-output(${tag.id})`, [input], { tag })
  }

  get isPhysical(): boolean {
    return this.kind === 'source' || this.kind === 'operator'
  }
}
