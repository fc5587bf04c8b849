/**
 * Runs a job file: `npm run job -- <file.ts> [--name value …]`. The file's default export must be
 * `defineJob(...)`. Parameters the runner itself reads:
 *   --parallelism N            overrides the job's default parallelism
 *   --workers N|true           runs the subtasks on N worker threads (true: one per core)
 *   --restore latest|<dir>     starts from the latest checkpoint (of the job's checkpoint dir) or
 *                              from a checkpoint/savepoint directory …/chk-<n>
 */
import { FluxionError, loadJob, parseJobParams, type EnvironmentOptions } from '../index.ts'

async function main(argv: string[]): Promise<void> {
  const [file, ...rest] = argv
  if (!file) {
    console.error('usage: npm run job -- <job-file.ts> [--name value …]')
    process.exitCode = 2
    return
  }
  const params = parseJobParams(rest)
  const overrides: EnvironmentOptions = {}
  if (params.parallelism !== undefined) overrides.parallelism = Number(params.parallelism)
  if (params.workers !== undefined) overrides.workers = params.workers === 'true' ? true : Number(params.workers)
  const { env, job } = await loadJob(file, params, overrides)
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
