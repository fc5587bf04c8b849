/**
 * Runs background compactions (compaction-worker.ts) on a worker thread, one at a time per
 * coordinator. The thread starts on the first compaction and stops on `close`; it never keeps the
 * process alive. Under tsx (the engine's .ts sources) the thread registers tsx's loader first.
 */
import { createRequire } from 'node:module'
import { pathToFileURL } from 'node:url'
import { Worker } from 'node:worker_threads'
import { FluxionError } from '../errors.ts'
import type { CompactionReply, CompactionRequest } from './compaction-worker.ts'

const WORKER_URL = new URL(import.meta.url.endsWith('.ts') ? './compaction-worker.ts' : './compaction-worker.js', import.meta.url)

/** URL of tsx's ESM API (its `import` export; `require.resolve` finds the CommonJS one beside it). */
function tsxApi(): string {
  const cjs = createRequire(import.meta.url).resolve('tsx/esm/api')
  return pathToFileURL(cjs.replace(/\.cjs$/, '.mjs')).href
}

function startWorker(): Worker {
  if (!WORKER_URL.pathname.endsWith('.ts')) return new Worker(WORKER_URL)
  const tsx = tsxApi()
  const source = `import { register } from ${JSON.stringify(tsx)}; register(); await import(${JSON.stringify(WORKER_URL.href)})`
  return new Worker(source, { eval: true })
}

export class CompactionThread {
  private worker: Worker | undefined
  private nextId = 0
  private readonly waiting = new Map<number, { resolve: (w: { handle: string; bytes: number }) => void; reject: (e: Error) => void }>()

  /** Folds `files` (a base, then deltas, under `root`) into state file `name` of checkpoint `checkpointId`. */
  compact(root: string, files: readonly string[], checkpointId: number, name: string): Promise<{ handle: string; bytes: number }> {
    const worker = this.start()
    const id = this.nextId++
    worker.ref() // while a compaction is pending, the process waits for it
    return new Promise((resolve, reject) => {
      this.waiting.set(id, { resolve, reject })
      worker.postMessage({ id, root, files: [...files], checkpointId, name } satisfies CompactionRequest)
    })
  }

  /** Stops the thread (a later compaction starts a new one); pending compactions fail. */
  async close(): Promise<void> {
    const worker = this.worker
    this.worker = undefined
    if (worker) await worker.terminate()
    this.failAll(new FluxionError('FLX_INTERNAL', 'the compaction thread was stopped'))
  }

  private start(): Worker {
    if (this.worker) return this.worker
    const worker = startWorker()
    worker.unref()
    worker.on('message', (reply: CompactionReply) => {
      const w = this.waiting.get(reply.id)
      this.waiting.delete(reply.id)
      if (this.waiting.size === 0) worker.unref()
      if ('error' in reply) w?.reject(new FluxionError('FLX_CHECKPOINT_FAILED', `compaction failed: ${reply.error}`))
      else w?.resolve(reply)
    })
    const lost = (e: Error): void => {
      if (this.worker === worker) this.worker = undefined
      this.failAll(e)
    }
    worker.on('error', lost)
    worker.on('exit', (code) => lost(new FluxionError('FLX_INTERNAL', `the compaction thread exited (code ${code})`)))
    this.worker = worker
    return worker
  }

  private failAll(e: Error): void {
    for (const w of this.waiting.values()) w.reject(e)
    this.waiting.clear()
  }
}
