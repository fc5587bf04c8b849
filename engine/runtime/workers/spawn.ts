/**
 * Starts a worker thread that runs TypeScript: the worker registers tsx's ESM loader
 * (`register()` from tsx/esm/api) and then imports worker-main.ts, which imports the job module.
 * (Node 20 ignores `--import tsx` in a worker's execArgv for the worker's entry module, so the
 * registration happens in a small bootstrap evaluated in the worker.)
 */
import { createRequire } from 'node:module'
import { dirname, join } from 'node:path'
import { pathToFileURL } from 'node:url'
import { Worker, type TransferListItem } from 'node:worker_threads'

let tsxApi: string | undefined

/** file: URL of tsx's ESM API (its package exports map `require` to a CJS build we do not want). */
function tsxApiUrl(): string {
  if (tsxApi === undefined) {
    const pkg = createRequire(import.meta.url).resolve('tsx/package.json')
    tsxApi = pathToFileURL(join(dirname(pkg), 'dist', 'esm', 'api', 'index.mjs')).href
  }
  return tsxApi
}

export function spawnWorker(workerData: unknown, transferList: TransferListItem[]): Worker {
  const entry = new URL('./worker-main.ts', import.meta.url).href
  const boot = `import(${JSON.stringify(tsxApiUrl())}).then(({ register }) => { register(); return import(${JSON.stringify(entry)}) })`
  return new Worker(boot, { eval: true, workerData, transferList, stdout: false, stderr: false })
}
