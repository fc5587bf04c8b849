/**
 * Job files: a module whose default export is `defineJob((env, params) => …)` can be run by the
 * CLI (`npm run job -- <file> [--name value …]`). The build function defines sources, operators and
 * sinks on `env`; the runner then executes them.
 */
import type { DataStream } from './data-stream.ts'
import type { EnvironmentOptions, StreamExecutionEnvironment } from './environment.ts'

/** Command-line parameters: `--name value` pairs (a bare `--flag` is "true"). */
export type JobParams = Readonly<Record<string, string>>

export interface JobDefinition {
  readonly kind: 'fluxion-job'
  readonly name: string
  /** Options for the environment the runner creates (parallelism, checkpoints, …), possibly from the parameters. */
  readonly options: EnvironmentOptions | ((params: JobParams) => EnvironmentOptions)
  build: JobBuild
}

/**
 * Defines the job's sources, operators and sinks on `env`. It may return the streams whose records
 * `env.executeAndCollect(...outputs)` collects when the job is loaded with `loadJob`. With workers
 * every worker runs it again, so it must build the same graph every time.
 */
export type JobBuild = (env: StreamExecutionEnvironment, params: JobParams) => JobBuildResult | Promise<JobBuildResult>
export type JobBuildResult = void | DataStream<any> | readonly DataStream<any>[]

export function defineJob(
  build: JobBuild,
  meta: { name?: string; options?: EnvironmentOptions | ((params: JobParams) => EnvironmentOptions) } = {},
): JobDefinition {
  if (typeof build !== 'function') throw new TypeError('defineJob needs a function (env, params) => { … }')
  return { kind: 'fluxion-job', name: meta.name ?? 'fluxion-job', options: meta.options ?? {}, build }
}

/** Parses `--name value` pairs. */
export function parseJobParams(argv: readonly string[]): JobParams {
  const params: Record<string, string> = {}
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]
    if (!arg.startsWith('--')) throw new TypeError(`unexpected argument "${arg}": parameters are --name value pairs`)
    const eq = arg.indexOf('=')
    if (eq > 0) params[arg.slice(2, eq)] = arg.slice(eq + 1)
    else if (i + 1 < argv.length && !argv[i + 1].startsWith('--')) params[arg.slice(2)] = argv[++i]
    else params[arg.slice(2)] = 'true'
  }
  return params
}
