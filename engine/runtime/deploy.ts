/**
 * Turns a JobGraph into running tasks on this thread: one task per chain and subtask, channels for
 * every non-chained edge, operator instances wired through chained and edge outputs.
 */
import { keyGroupRangeOf } from '../keys.ts'
import type { JobEdge, JobGraph, JobVertex } from '../graph/job-graph.ts'
import type { StreamOperator } from '../operator.ts'
import { BroadcastingOutput, DISCARDING_OUTPUT, OperatorOutput, type Output } from '../output.ts'
import type { OutputTag } from '../output-tag.ts'
import { DEAD_LETTERS } from '../source.ts'
import type { Clock } from '../time.ts'
import type { MetricsRegistry } from '../metrics.ts'
import { MemoryKeyedStateBackend } from '../../state/memory/memory-backend.ts'
import type { KeyedStateBackend, KeyGroupRange } from '../../state/backend.ts'
import { Channel } from './channel.ts'
import { EdgeOutput } from './edge-output.ts'
import { Task } from './task.ts'
import { operatorSnapshotsFor, sourceSnapshotsFor, type LoadedCheckpoint } from '../checkpoint/restore.ts'

export interface DeployOptions {
  /** Restore every operator and source from this checkpoint. */
  restore?: LoadedCheckpoint
  /** Creates the keyed state backend of a keyed chain's subtask (default: memory, no change tracking). */
  createBackend?: (spec: { vertexKey: string; subtask: number; maxParallelism: number; keyGroupRange: KeyGroupRange }) => KeyedStateBackend
  clock: Clock
  batchSize: number
  channelCapacity: number
  autoWatermarkIntervalMs: number
  wake: () => void
  /** The job's counters, handed to sources (dead letters, connector metrics). */
  metrics?: MetricsRegistry
  /** Worker threads (DESIGN.md §3): deploy only the subtasks this worker owns (default: every one). */
  ownsSubtask?: (head: JobVertex, subtask: number) => boolean
  /** Worker threads: the channel of an edge from `producer` to `consumer`; undefined for a local Channel. */
  createChannel?: (edge: JobEdge, producer: number, consumer: number) => Channel | undefined
}

/** Output that calls the next chained operator directly. */
class ChainedOutput<T> implements Output<T> {
  constructor(private readonly next: StreamOperator<T, unknown>) {}
  collect(value: T, timestamp: number): void {
    this.next.processElement(value, timestamp)
  }
  collectSide<S>(_tag: OutputTag<S>, _value: S, _timestamp: number): void {}
  emitWatermark(watermark: number): void {
    this.next.processWatermark(watermark)
  }
  emitIdle(idle: boolean): void {
    this.next.processIdle(idle)
  }
}

export function deploy(graph: JobGraph, options: DeployOptions): Task[] {
  const channels = new Map<string, Channel>()
  const edgeIds = new Map<JobEdge, number>()
  const channelOf = (edge: JobEdge, producer: number, consumer: number): Channel => {
    let id = edgeIds.get(edge)
    if (id === undefined) edgeIds.set(edge, (id = edgeIds.size))
    const k = `${id}:${producer}:${consumer}`
    let ch = channels.get(k)
    if (!ch) channels.set(k, (ch = options.createChannel?.(edge, producer, consumer) ?? new Channel(options.channelCapacity, edge.inputIndex)))
    return ch
  }
  const producersFor = (edge: JobEdge, consumer: number): number[] =>
    edge.partitioning.kind === 'forward' ? [consumer] : range(edge.source.parallelism)
  const consumersFor = (edge: JobEdge, producer: number): number[] =>
    edge.partitioning.kind === 'forward' ? [producer] : range(edge.target.parallelism)

  const tasks: Task[] = []
  for (const head of graph.vertices) {
    if (head.chainHead !== head.id) continue
    const members = graph.vertices.filter((v) => v.chainHead === head.id)
    for (let subtask = 0; subtask < head.parallelism; subtask++) {
      if (options.ownsSubtask && !options.ownsSubtask(head, subtask)) continue
      const keyed = head.transformation.details.keyed === true
      const keyGroupRange = keyGroupRangeOf(subtask, head.parallelism, graph.maxParallelism)
      const backend = !keyed
        ? undefined
        : options.createBackend
          ? options.createBackend({ vertexKey: head.key, subtask, maxParallelism: graph.maxParallelism, keyGroupRange })
          : new MemoryKeyedStateBackend(graph.maxParallelism, keyGroupRange, { clock: options.clock })
      const operators = new Map<number, StreamOperator<any, any>>()
      for (const v of members) if (v.transformation.kind === 'operator') operators.set(v.id, v.transformation.details.operatorFactory!())
      const edgeOutputs: EdgeOutput[] = []
      const outputOf = (v: JobVertex): OperatorOutput<unknown> => {
        const main: Output<unknown>[] = []
        const sides = new Map<string, Output<unknown>[]>()
        for (const edge of v.outputs) {
          let out: Output<unknown>
          if (edge.chained) out = new ChainedOutput(operators.get(edge.target.id)!)
          else {
            const eo = new EdgeOutput(
              consumersFor(edge, subtask).map((c) => channelOf(edge, subtask, c)),
              edge.partitioning,
              options.batchSize,
              subtask,
            )
            edgeOutputs.push(eo)
            out = eo
          }
          if (edge.tag === undefined) main.push(out)
          else sides.set(edge.tag, [...(sides.get(edge.tag) ?? []), out])
        }
        const sideOutputs = new Map<string, Output<unknown>>()
        for (const [tag, outs] of sides) sideOutputs.set(tag, combine(outs))
        return new OperatorOutput(combine(main), sideOutputs)
      }
      const base = { subtaskIndex: subtask, parallelism: head.parallelism, maxParallelism: graph.maxParallelism, clock: options.clock }
      for (const v of members) {
        const op = operators.get(v.id)
        if (!op) continue
        op.setup({ ...base, name: v.name, backend: v === head ? backend : undefined }, outputOf(v))
        if (options.restore) op.initializeState(operatorSnapshotsFor(options.restore, v.key, subtask, head.parallelism))
      }
      let source = undefined
      if (head.transformation.kind === 'source') {
        source = head.transformation.details.sourceFactory!()
        const output = outputOf(head)
        source.setup(
          { ...base, name: head.name, deadLettersConsumed: output.hasSide(DEAD_LETTERS.id), autoWatermarkIntervalMs: options.autoWatermarkIntervalMs, batchSize: options.batchSize, metrics: options.metrics },
          output,
          () => anyFull(edgeOutputs),
        )
        const restored = options.restore && sourceSnapshotsFor(options.restore, head.key, subtask, head.parallelism, source.placesOwnSplits)
        if (restored) source.initializeState(restored)
      }
      const inputs: Channel[] = []
      for (const edge of head.inputs) for (const p of producersFor(edge, subtask)) inputs.push(channelOf(edge, p, subtask))
      const task = new Task(chainName(members), subtask, inputs, [...operators.values()], edgeOutputs, source, backend, options.wake)
      task.headVertex = head.key
      task.operatorKeys = members.filter((v) => operators.has(v.id)).map((v) => v.key)
      tasks.push(task)
    }
  }
  return tasks
}

function anyFull(outputs: readonly EdgeOutput[]): boolean {
  for (let i = 0; i < outputs.length; i++) if (outputs[i].full) return true
  return false
}

function combine(outputs: Output<unknown>[]): Output<unknown> {
  if (outputs.length === 0) return DISCARDING_OUTPUT
  if (outputs.length === 1) return outputs[0]
  return new BroadcastingOutput(outputs)
}

function chainName(members: readonly JobVertex[]): string {
  return members.map((m) => m.name).join(' -> ')
}

function range(n: number): number[] {
  return Array.from({ length: n }, (_, i) => i)
}
