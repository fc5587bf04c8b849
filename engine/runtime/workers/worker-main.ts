/**
 * Entry point of a worker thread (DESIGN.md §3 "Workers"). The worker imports the job module,
 * builds the same graph as the main thread (and checks that it is the same), then deploys only the
 * subtasks it owns — subtask i of every chain runs on worker i mod W. Channels to subtasks on
 * other workers are remote (bytes over the pair's MessagePort, credit-based backpressure). A local
 * executor runs the tasks; checkpoint triggers, acknowledgements, commits and failures are
 * messages to and from the coordinator on the main thread.
 */
import { parentPort, workerData, type MessagePort } from 'node:worker_threads'
import { deserialize, serialize } from 'node:v8'
import { join } from 'node:path'
import { FluxionError } from '../../errors.ts'
import { keyGroupRangeOf } from '../../keys.ts'
import { StreamExecutionEnvironment, collectorTransformations } from '../../api/environment.ts'
import type { JobVertex } from '../../graph/job-graph.ts'
import type { LoadedCheckpoint } from '../../checkpoint/restore.ts'
import { SystemClock } from '../../time.ts'
import { CollectSink } from '../../../connectors/sinks.ts'
import { SinkOperator } from '../../../operators/sink.ts'
import { MemoryKeyedStateBackend } from '../../../state/memory/memory-backend.ts'
import type { RocksDbKeyedStateBackend } from '../../../state/rocksdb/rocksdb-backend.ts'
import { deploy } from '../deploy.ts'
import { LocalExecutor, type ExecutorTimer } from '../executor.ts'
import type { Task } from '../task.ts'
import { buildJob, importJobModule } from './job-module.ts'
import { ForwardingCollectSink } from './forwarding-collect-sink.ts'
import { ownBuffer } from './batch-codec.ts'
import { InboundChannel, OutboundChannel, PeerLink } from './remote-channel.ts'
import { channelId, planFingerprint, serializeError, subtaskKey, workerOf, type SnapshotModes, type MainToWorker, type TaskMetricsReport, type WorkerInit, type WorkerToMain } from './protocol.ts'

const init = workerData as WorkerInit
const port = parentPort as MessagePort
const post = (m: WorkerToMain, transfer?: ArrayBuffer[]): void => port.postMessage(m, transfer)

/** Fails this worker's part of the job: the executor stops and the main thread is told why. */
class WorkerControl implements ExecutorTimer {
  failure: Error | null = null
  executor: LocalExecutor | undefined
  private reported = new Set<Task>()
  private nextReport = 0

  constructor(private readonly tasks: () => readonly Task[]) {}

  fail(e: unknown): void {
    this.failure ??= e instanceof Error ? e : new Error(String(e))
    this.executor?.wake()
  }

  nextTimerTime(): number {
    return this.nextReport
  }

  /** Every 100 ms: report finished tasks and metrics to the main thread. */
  onTimer(now: number): void {
    this.nextReport = now + 100
    this.reportFinished()
    post({ kind: 'metrics', tasks: metricsOf(this.tasks()) })
  }

  reportFinished(): void {
    this.tasks().forEach((t, id) => {
      if (!t.finished || this.reported.has(t)) return
      this.reported.add(t)
      const bytes = t.finalSnapshot ? ownBuffer(serialize(t.finalSnapshot)) : undefined
      post({ kind: 'task-finished', id, finalSnapshot: bytes }, bytes ? [bytes] : undefined)
    })
  }
}

function metricsOf(tasks: readonly Task[]): TaskMetricsReport[] {
  return tasks.map((t, id) => ({ id, recordsIn: t.metrics.recordsIn, recordsOut: t.metrics.recordsOut, peakQueuedRecords: t.peakQueuedRecords() }))
}

async function main(): Promise<void> {
  let tasks: Task[] = []
  const control = new WorkerControl(() => tasks)
  const clock = new SystemClock()
  const job = await importJobModule(init.moduleUrl)
  const env = StreamExecutionEnvironment.create({ ...init.options })
  const outputs = await buildJob(job, env, init.params)
  const collectors = init.collect ? collectorTransformations(init.collect.map((i) => outputs[i]), init.collect.map(() => [])) : []
  const graph = env.getJobGraph(init.jobName, collectors)
  if (planFingerprint(graph) !== init.plan) {
    throw new FluxionError(
      'FLX_INVALID_TOPOLOGY',
      `worker ${init.index} built a different job graph from ${init.moduleUrl} than the main thread. With workers, the job's build function must build the same graph every time (no randomness, clocks or environment-dependent branches in its shape).`,
    )
  }
  // Collect sinks forward their commits to the main thread's sink.
  for (const v of graph.vertices) {
    const sink = v.transformation.details.sink
    if (!(sink instanceof CollectSink)) continue
    const prefix = init.collectSinks[v.key]
    const forwarding = new ForwardingCollectSink(`${prefix}.a${init.attempt}w${init.index}`, (epochs) => post({ kind: 'collected', vertex: v.key, epochs }))
    v.transformation.details.operatorFactory = () => new SinkOperator(forwarding)
  }

  const links = init.peers.map((p) => (p ? new PeerLink(p, (e) => control.fail(e)) : undefined))
  const owns = (subtask: number): boolean => workerOf(subtask, init.workers) === init.index
  const wake = (): void => control.executor?.wake()
  // Snapshot modes by checkpoint id (from triggers and from barriers of other workers).
  const modes = new Map<number, SnapshotModes>()
  const setModes = (checkpointId: number, m: SnapshotModes): void => {
    modes.set(checkpointId, m)
    for (const id of modes.keys()) if (id < checkpointId - 16) modes.delete(id)
  }
  const restore = init.restore ? (deserialize(init.restore) as LoadedCheckpoint) : undefined
  await openRocksBackends(graph.vertices, owns, graph.maxParallelism)
  tasks = deploy(graph, {
    restore,
    clock,
    batchSize: init.options.batchSize,
    channelCapacity: init.options.channelCapacity,
    autoWatermarkIntervalMs: init.options.autoWatermarkIntervalMs,
    wake,
    ownsSubtask: (_head, subtask) => owns(subtask),
    createChannel: (edge, producer, consumer) => {
      const from = workerOf(producer, init.workers)
      const to = workerOf(consumer, init.workers)
      if (from === to) return undefined
      const id = channelId(edge, producer, consumer)
      const capacity = init.options.channelCapacity
      if (from === init.index) return new OutboundChannel(capacity, edge.inputIndex, id, links[to]!, (id) => modes.get(id), wake)
      return new InboundChannel(capacity, edge.inputIndex, id, links[from]!, setModes, wake)
    },
    createBackend: ({ vertexKey, subtask, maxParallelism, keyGroupRange }) =>
      rocks.get(`${vertexKey}#${subtask}`) ??
      new MemoryKeyedStateBackend(maxParallelism, keyGroupRange, { clock, trackChanges: init.options.checkpoint !== undefined }),
  })
  tasks.forEach((t, id) => {
    t.checkpointing = init.options.checkpoint !== undefined
    const key = subtaskKey(t.headVertex, t.subtaskIndex)
    t.snapshotModeFor = (checkpointId) => modes.get(checkpointId)?.[key] ?? 'full'
    t.onCheckpoint = (ack) => {
      const bytes = ownBuffer(serialize(ack.snapshot))
      post({ kind: 'ack', id, checkpointId: ack.checkpointId, syncMs: ack.syncMs, snapshot: bytes }, [bytes])
    }
  })
  const executor = new LocalExecutor(tasks, clock, { sliceRecords: init.options.batchSize * 4, yieldAfterMs: 5 }, control)
  control.executor = executor
  port.on('message', (m: MainToWorker) => void onCommand(m, tasks, executor, setModes).catch((e) => control.fail(e)))
  post({ kind: 'ready', tasks: tasks.map((t, id) => ({ id, name: t.name, subtask: t.subtaskIndex, headVertex: t.headVertex, isSource: t.source !== undefined, keyed: t.backend !== undefined })) })
  await executor.run()
  control.reportFinished()
  post({ kind: 'done', tasks: metricsOf(tasks) })
}

async function onCommand(m: MainToWorker, tasks: readonly Task[], executor: LocalExecutor, setModes: (checkpointId: number, modes: SnapshotModes) => void): Promise<void> {
  switch (m.kind) {
    case 'trigger':
      setModes(m.checkpointId, m.modes)
      tasks[m.id].triggerCheckpoint(m.checkpointId)
      executor.wake()
      return
    case 'notify':
      await replyTo(m.request, () => tasks[m.id].notifyCheckpointComplete(m.checkpointId))
      return
    case 'commit-at-end':
      await replyTo(m.request, async () => {
        for (const t of tasks) await t.commitWithoutCheckpoints()
      })
      return
    case 'cancel':
      executor.cancel()
      return
    case 'shutdown':
      // Backends stay open until now: sinks may commit after the tasks finished.
      await Promise.all([...rocks.values()].map((b) => b.close().catch(() => {})))
      process.exit(0)
  }
}

async function replyTo(request: number, work: () => Promise<void>): Promise<void> {
  try {
    await work()
    post({ kind: 'reply', request })
  } catch (e) {
    post({ kind: 'reply', request, error: serializeError(e) })
  }
}

/** RocksDB working copies of this worker's keyed subtasks, by "vertex#subtask". */
const rocks = new Map<string, RocksDbKeyedStateBackend>()

/** One RocksDB working copy per keyed subtask this worker owns (stateBackend: 'rocksdb'). */
async function openRocksBackends(vertices: readonly JobVertex[], owns: (subtask: number) => boolean, maxParallelism: number): Promise<void> {
  const backends = rocks
  if (init.options.stateBackend !== 'rocksdb') return
  // Loaded only when used: the native module adds to every worker's start-up.
  const { RocksDbKeyedStateBackend } = await import('../../../state/rocksdb/rocksdb-backend.ts')
  const run = `${init.jobName.replace(/[^A-Za-z0-9_.-]+/g, '_')}-${process.pid}-w${init.index}-a${init.attempt}-${Date.now().toString(36)}`
  for (const v of vertices) {
    if (v.chainHead !== v.id || !v.transformation.details.keyed) continue
    for (let subtask = 0; subtask < v.parallelism; subtask++) {
      if (!owns(subtask)) continue
      backends.set(
        `${v.key}#${subtask}`,
        await RocksDbKeyedStateBackend.open({
          dir: join(init.options.stateDir, run, `${v.key}-${subtask}`),
          maxParallelism,
          keyGroupRange: keyGroupRangeOf(subtask, v.parallelism, maxParallelism),
          clock: new SystemClock(),
          trackChanges: init.options.checkpoint !== undefined,
        }),
      )
    }
  }
}

main().catch((e: unknown) => post({ kind: 'failed', error: serializeError(e) }))
