/**
 * Runs a job file: `npm run job -- <file.ts> [--name value …]`. The file's default export must be
 * `defineJob(...)`. Parameters the runner itself reads:
 *   --parallelism N            overrides the job's default parallelism
 *   --restore latest|<dir>     starts from the latest checkpoint (of the job's checkpoint dir) or
 *                              from a checkpoint/savepoint directory …/chk-<n>
 */
import { resolve } from 'node:path'
import { pathToFileURL } from 'node:url'
import { FluxionError, StreamExecutionEnvironment, parseJobParams, type JobDefinition } from '../index.ts'

async function main(argv: string[]): Promise<void> {
  const [file, ...rest] = argv
  if (!file) {
    console.error('usage: npm run job -- <job-file.ts> [--name value …]')
    process.exitCode = 2
    return
  }
  const params = parseJobParams(rest)
  const mod = (await import(pathToFileURL(resolve(file)).href)) as { default?: JobDefinition }
  const job = mod.default
  if (!job || job.kind !== 'fluxion-job') {
    throw new FluxionError('FLX_INVALID_CONFIG', `${file} must have a default export created with defineJob((env, params) => …)`)
  }
  const options = { ...(typeof job.options === 'function' ? job.options(params) : job.options) }
  if (params.parallelism !== undefined) options.parallelism = Number(params.parallelism)
  const env = StreamExecutionEnvironment.create(options)
  await job.build(env, params)
  const started = performance.now()
  const result = await env.execute(job.name, { restoreFrom: params.restore })
  const seconds = (performance.now() - started) / 1000
  const sourceRecords = result.tasks.filter((t) => t.recordsIn === 0).reduce((n, t) => n + t.recordsOut, 0)
  console.error(`job "${job.name}" finished in ${seconds.toFixed(2)} s (${Math.round(sourceRecords / seconds).toLocaleString('en-US')} source records/s)`)
}

main(process.argv.slice(2)).catch((e: unknown) => {
  if (e instanceof FluxionError) console.error(`${e.message}${e.cause instanceof Error ? `\n  caused by: ${e.cause.stack ?? e.cause.message}` : ''}`)
  else console.error(e)
  process.exitCode = 1
})
