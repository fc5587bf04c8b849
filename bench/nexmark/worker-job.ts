/**
 * A Nexmark query as a job module, for runs on worker threads (job.ts --workers N): every worker
 * imports this file and builds the same graph. Parameters: query, events, the generator's
 * rate / ooo-group / seed, and `metrics-channel`: the BroadcastChannel on which the source and sink
 * subtasks report their progress and output samples to the main thread, and from which the sources
 * get the start gate (worker-metrics.ts); without it the sources start at once and the sink discards
 * the results.
 */
import { isMainThread } from 'node:worker_threads'
import { defineJob } from '../../engine/api/define-job.ts'
import { nexmarkSource, type NexmarkConfig } from './generator.ts'
import { queryByName } from './queries/index.ts'
import { WorkerMetricsReporter } from './worker-metrics.ts'

export default defineJob(async (env, params) => {
  const config: Partial<NexmarkConfig> = {}
  if (params.rate !== undefined) config.eventsPerSecond = Number(params.rate)
  if (params['ooo-group'] !== undefined) config.outOfOrderGroupSize = Number(params['ooo-group'])
  if (params.seed !== undefined) config.seed = Number(params.seed)
  const query = queryByName(params.query)
  const count = Number(params.events)
  const channel = params['metrics-channel']
  const metrics = channel ? new WorkerMetricsReporter({ channel, mode: query.latency, sourceParallelism: env.config.parallelism, events: count }) : undefined
  // The main thread builds the graph too (loadJob) but runs no subtask: only workers wait for the start gate.
  if (metrics && !isMainThread) await metrics.awaitGate()
  const source = nexmarkSource(env, { count, config, observe: metrics?.observe })
  query.build(env, source).sinkTo(metrics ? metrics.sink() : { name: 'nexmark-sink', createWriter: () => ({ write() {} }) }, 'nexmark-sink')
})
