/**
 * A Nexmark query as a job module, for runs on worker threads (job.ts --workers N): every worker
 * imports this file and builds the same graph. Parameters: query, events, the generator's
 * rate / ooo-group / seed, and `metrics-channel`: the BroadcastChannel on which the source and sink
 * subtasks report their progress and output samples to the main thread, and from which the sources
 * get the start gate (worker-metrics.ts); without it the sources start at once and the sink discards
 * the results. `warmup-events` > 0: before deploying its subtasks, every worker first runs the query
 * on that many events in-thread (in two jobs; parallelism 1, its own state backend, outputs discarded), as
 * job.ts warms an in-process run up, so the measured run does not include the workers' JIT warm-up.
 */
import { isMainThread } from 'node:worker_threads'
import { defineJob } from '../../engine/api/define-job.ts'
import { StreamExecutionEnvironment } from '../../engine/api/environment.ts'
import { nexmarkSource, warmUpConfig, warmUpJobCounts, type NexmarkConfig } from './generator.ts'
import { queryByName } from './queries/index.ts'
import { WorkerMetricsReporter } from './worker-metrics.ts'

const DISCARD = { name: 'nexmark-sink', createWriter: () => ({ write() {} }) }

export default defineJob(async (env, params) => {
  const config: Partial<NexmarkConfig> = {}
  if (params.rate !== undefined) config.eventsPerSecond = Number(params.rate)
  if (params['ooo-group'] !== undefined) config.outOfOrderGroupSize = Number(params['ooo-group'])
  if (params.seed !== undefined) config.seed = Number(params.seed)
  const query = queryByName(params.query)
  const count = Number(params.events)
  const channel = params['metrics-channel']
  const metrics = channel ? new WorkerMetricsReporter({ channel, mode: query.latency, sourceParallelism: env.config.parallelism, events: count }) : undefined
  const warmupEvents = Number(params['warmup-events'] ?? 0)
  // The main thread builds the graph too (loadJob) but runs no subtask: only workers warm up and wait for the start gate.
  // Two jobs of half the events each, at a tenth of the rate, as job.ts's warmUp (why: there).
  if (!isMainThread && warmupEvents > 0) {
    const warmConfig = warmUpConfig(config)
    for (const count of warmUpJobCounts(warmupEvents)) {
      const warm = StreamExecutionEnvironment.create({ parallelism: 1, batchSize: env.config.batchSize, stateBackend: env.config.stateBackend, stateDir: env.config.stateDir })
      query.build(warm, nexmarkSource(warm, { count, config: warmConfig })).sinkTo(DISCARD, 'nexmark-warmup-sink')
      await warm.execute(`nexmark-${query.name}-warmup`)
    }
  }
  if (metrics && !isMainThread) await metrics.awaitGate()
  const source = nexmarkSource(env, { count, config, observe: metrics?.observe })
  query.build(env, source).sinkTo(metrics ? metrics.sink() : DISCARD, 'nexmark-sink')
})
