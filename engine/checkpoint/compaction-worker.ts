/**
 * Entry point of the compaction thread (compaction-thread.ts): folds a subtask's chain of state
 * files into a new base file. It works on files only (paths in, a handle out), so no closures or
 * live objects cross threads, and the task thread never pays for reading, folding or writing.
 */
import { parentPort } from 'node:worker_threads'
import { compactTaskChain } from './compaction.ts'
import { LocalCheckpointStorage } from './storage.ts'
import type { TaskSnapshot } from './types.ts'

/** One compaction: read `files` under `root`, write the fold as `name` of checkpoint `checkpointId`. */
export interface CompactionRequest {
  id: number
  root: string
  files: string[]
  checkpointId: number
  name: string
}

export type CompactionReply = { id: number; handle: string; bytes: number } | { id: number; error: string }

parentPort?.on('message', (request: CompactionRequest) => {
  void compact(request).then(
    (written) => parentPort!.postMessage({ id: request.id, ...written } satisfies CompactionReply),
    (e: unknown) => parentPort!.postMessage({ id: request.id, error: e instanceof Error ? e.message : String(e) } satisfies CompactionReply),
  )
})

async function compact({ root, files, checkpointId, name }: CompactionRequest): Promise<{ handle: string; bytes: number }> {
  const storage = new LocalCheckpointStorage(root)
  const chain: TaskSnapshot[] = []
  for (const f of files) chain.push((await storage.readState(f)) as TaskSnapshot)
  return storage.writeState(checkpointId, name, compactTaskChain(chain))
}
