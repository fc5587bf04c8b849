/**
 * JobGraph: the physical plan. Every physical transformation becomes a vertex with a resolved
 * parallelism; every input becomes an edge that names its partitioning (forward, rebalance,
 * keyHash, broadcast) and, for side outputs, its tag. Vertices joined by a forward edge of equal
 * parallelism are chained into one task, as in Flink.
 */
import { FluxionError } from '../errors.ts'
import type { Partitioning } from '../runtime/edge-output.ts'
import type { Transformation } from './transformation.ts'

export interface JobVertex {
  readonly id: number
  /**
   * Stable identity of the operator across runs, used to match state in checkpoints and
   * savepoints: the uid when set, else its position in the plan and its name.
   */
  key: string
  readonly name: string
  readonly parallelism: number
  readonly transformation: Transformation
  readonly inputs: JobEdge[]
  readonly outputs: JobEdge[]
  /** Id of the chain (task) this vertex runs in: the id of the chain's head vertex. */
  chainHead: number
}

export interface JobEdge {
  readonly source: JobVertex
  readonly target: JobVertex
  readonly partitioning: Partitioning
  /** 0 for the first input of the target, 1 for the second input of a two-input operator. */
  readonly inputIndex: number
  /** Set when the edge carries a side output of the source vertex. */
  readonly tag: string | undefined
  /** True when source and target run chained in one task (no channel). */
  chained: boolean
}

export interface JobGraph {
  readonly name: string
  readonly maxParallelism: number
  /** Topological order: every vertex after all of its inputs. */
  readonly vertices: readonly JobVertex[]
}

export interface JobGraphOptions {
  name: string
  defaultParallelism: number
  maxParallelism: number
}

export function buildJobGraph(sinks: readonly Transformation[], options: JobGraphOptions): JobGraph {
  const vertices = new Map<Transformation, JobVertex>()
  const order: JobVertex[] = []
  const visiting = new Set<Transformation>()

  const vertexOf = (t: Transformation): JobVertex => {
    const existing = vertices.get(t)
    if (existing) return existing
    if (visiting.has(t)) throw new FluxionError('FLX_INVALID_TOPOLOGY', `the graph has a cycle at "${t.name}"; Fluxion supports only acyclic topologies`)
    visiting.add(t)
    const parallelism = t.parallelism ?? options.defaultParallelism
    if (parallelism > options.maxParallelism) {
      throw new FluxionError(
        'FLX_PARALLELISM_TOO_HIGH',
        `operator "${t.name}" has parallelism ${parallelism}, above maxParallelism ${options.maxParallelism}. Lower the parallelism or raise maxParallelism in StreamExecutionEnvironment.create().`,
      )
    }
    const vertex: JobVertex = { id: t.id, key: '', name: t.name, parallelism, transformation: t, inputs: [], outputs: [], chainHead: t.id }
    t.inputs.forEach((input, inputIndex) => {
      for (const r of resolveInput(input)) {
        const source = vertexOf(r.source)
        const partitioning: Partitioning = r.partitioning ?? (source.parallelism === parallelism ? { kind: 'forward' } : { kind: 'rebalance' })
        if (partitioning.kind === 'forward' && source.parallelism !== parallelism) {
          throw new FluxionError('FLX_INVALID_TOPOLOGY', `a forward edge from "${source.name}" (parallelism ${source.parallelism}) to "${t.name}" (parallelism ${parallelism}) needs equal parallelism`)
        }
        const edge: JobEdge = { source, target: vertex, partitioning, inputIndex, tag: r.tag, chained: false }
        vertex.inputs.push(edge)
        source.outputs.push(edge)
      }
    })
    visiting.delete(t)
    vertices.set(t, vertex)
    order.push(vertex)
    return vertex
  }

  for (const sink of sinks) vertexOf(sink)
  order.forEach((v, i) => (v.key = v.transformation.uid ?? `${i}-${v.name.replace(/[^A-Za-z0-9_.-]+/g, '_')}`))
  const seen = new Set<string>()
  for (const v of order) {
    if (seen.has(v.key)) throw new FluxionError('FLX_INVALID_TOPOLOGY', `two operators have the uid "${v.key}"; uids must be unique within a job`)
    seen.add(v.key)
  }
  chain(order)
  return { name: options.name, maxParallelism: options.maxParallelism, vertices: order }
}

interface ResolvedInput {
  source: Transformation
  partitioning: Partitioning | undefined
  tag: string | undefined
}

/** Follows virtual transformations down to the physical ones that feed an input. */
function resolveInput(t: Transformation, partitioning?: Partitioning, tag?: string): ResolvedInput[] {
  switch (t.kind) {
    case 'source':
    case 'operator':
      return [{ source: t, partitioning, tag }]
    case 'partition':
      return resolveInput(t.inputs[0], partitioning ?? t.details.partitioning, tag)
    case 'union':
      return t.inputs.flatMap((i) => resolveInput(i, partitioning, tag))
    case 'side-output': {
      const producer = t.inputs[0]
      if (!producer.isPhysical) throw new FluxionError('FLX_INVALID_TOPOLOGY', `getSideOutput must be called on the stream of an operator, not on a ${producer.kind}`)
      return [{ source: producer, partitioning, tag: t.details.tag!.id }]
    }
  }
}

/** Marks forward edges between vertices of equal parallelism as chained. */
function chain(order: readonly JobVertex[]): void {
  for (const v of order) {
    if (v.inputs.length !== 1) continue
    const edge = v.inputs[0]
    if (edge.partitioning.kind === 'forward' && edge.tag === undefined && edge.source.parallelism === v.parallelism) {
      edge.chained = true
      v.chainHead = edge.source.chainHead
    }
  }
}

/** A JSON-friendly description of the plan, for logs, tests and the REST API. */
export function describeJobGraph(graph: JobGraph): { name: string; vertices: unknown[] } {
  return {
    name: graph.name,
    vertices: graph.vertices.map((v) => ({
      id: v.id,
      key: v.key,
      name: v.name,
      parallelism: v.parallelism,
      chain: v.chainHead,
      inputs: v.inputs.map((e) => ({ from: e.source.id, partitioning: e.partitioning.kind, input: e.inputIndex, tag: e.tag, chained: e.chained })),
    })),
  }
}
