/**
 * Job modules: files whose default export is `defineJob(...)`. `loadJob` imports one, creates its
 * environment and runs its build function. An environment made this way knows its module, so it
 * can run with `workers`: each worker imports the same module and builds the same graph.
 */
import { resolve } from 'node:path'
import { pathToFileURL } from 'node:url'
import { FluxionError } from '../../errors.ts'
import type { JobDefinition, JobParams } from '../../api/define-job.ts'
import { DataStream } from '../../api/data-stream.ts'
import { StreamExecutionEnvironment, type EnvironmentOptions } from '../../api/environment.ts'

export interface LoadedJob {
  env: StreamExecutionEnvironment
  job: JobDefinition
  /** The streams the build function returned (for executeAndCollect), in order. */
  outputs: DataStream<any>[]
}

/** The module's URL: a file path (relative to the working directory) or a file: URL. */
export function jobModuleUrl(file: string | URL): string {
  if (file instanceof URL) return file.href
  return file.startsWith('file:') ? file : pathToFileURL(resolve(file)).href
}

/** Imports a job module and checks its default export. */
export async function importJobModule(url: string): Promise<JobDefinition> {
  const mod = (await import(url)) as { default?: JobDefinition }
  const job = mod.default
  if (!job || job.kind !== 'fluxion-job') {
    throw new FluxionError('FLX_INVALID_CONFIG', `${url} must have a default export created with defineJob((env, params) => …)`)
  }
  return job
}

/** Runs the job's build function on `env`; returns the streams it returned. */
export async function buildJob(job: JobDefinition, env: StreamExecutionEnvironment, params: JobParams): Promise<DataStream<any>[]> {
  const returned = await job.build(env, params)
  const outputs = returned === undefined ? [] : Array.isArray(returned) ? [...returned] : [returned]
  for (const s of outputs) {
    if (!(s instanceof DataStream)) throw new FluxionError('FLX_INVALID_CONFIG', 'a defineJob build function may return nothing, a DataStream or an array of DataStreams')
  }
  return outputs
}

/**
 * Imports the job module `file`, creates its environment (the job's options, then `overrides`)
 * and runs its build function. Execute the result with `env.execute(job.name)` or
 * `env.executeAndCollect(...outputs)`; with `workers` the subtasks run on worker threads.
 */
export async function loadJob(file: string | URL, params: JobParams = {}, overrides: EnvironmentOptions = {}): Promise<LoadedJob> {
  const url = jobModuleUrl(file)
  const job = await importJobModule(url)
  const options = { ...(typeof job.options === 'function' ? job.options(params) : job.options), ...overrides }
  const env = StreamExecutionEnvironment.create(options)
  const outputs = await buildJob(job, env, params)
  env.jobModule = { url, params, outputs }
  return { env, job, outputs }
}
