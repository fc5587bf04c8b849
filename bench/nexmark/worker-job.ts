/**
 * A Nexmark query as a job module, for runs on worker threads (job.ts --workers N): every worker
 * imports this file and builds the same graph. Parameters: query, events, and the generator's
 * rate / ooo-group / seed. The sink discards the results (the runner counts them from task metrics).
 */
import { defineJob } from '../../engine/api/define-job.ts'
import { nexmarkSource, type NexmarkConfig } from './generator.ts'
import { queryByName } from './queries/index.ts'

export default defineJob((env, params) => {
  const config: Partial<NexmarkConfig> = {}
  if (params.rate !== undefined) config.eventsPerSecond = Number(params.rate)
  if (params['ooo-group'] !== undefined) config.outOfOrderGroupSize = Number(params['ooo-group'])
  if (params.seed !== undefined) config.seed = Number(params.seed)
  const source = nexmarkSource(env, { count: Number(params.events), config })
  queryByName(params.query).build(env, source).sinkTo({ name: 'nexmark-sink', createWriter: () => ({ write() {} }) }, 'nexmark-sink')
})
