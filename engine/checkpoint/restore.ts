/**
 * Reading a complete checkpoint back and handing each new subtask its share, at the same or at a
 * different parallelism:
 *  - keyed state and timers: every former subtask's chain (base, then deltas) is offered, and each
 *    backend keeps the key groups it owns (at the same parallelism only the subtask's own chain);
 *  - operator state and source splits: former subtask j goes to new subtask j mod p.
 */
import { FluxionError } from '../errors.ts'
import type { OperatorSnapshot } from '../operator.ts'
import type { CheckpointStorage } from './storage.ts'
import type { CheckpointMetadata, SourceSnapshot, TaskSnapshot } from './types.ts'

export interface LoadedCheckpoint {
  metadata: CheckpointMetadata
  /** Head vertex key → former subtask → its files' snapshots, oldest first. */
  chains: Map<string, TaskSnapshot[][]>
  /** Where the files are (the first checkpoint after the restore builds on them). */
  storage?: CheckpointStorage
}

/** Reads and validates every file of a checkpoint (FLX_CHECKPOINT_CORRUPT on a bad one). */
export async function loadCheckpoint(storage: CheckpointStorage, metadata: CheckpointMetadata): Promise<LoadedCheckpoint> {
  const chains = new Map<string, TaskSnapshot[][]>()
  for (const [head, task] of Object.entries(metadata.tasks)) {
    const perSubtask: TaskSnapshot[][] = []
    for (const s of task.subtasks) perSubtask[s.subtask] = (await Promise.all(s.files.map((f) => storage.readState(f)))) as TaskSnapshot[]
    chains.set(head, perSubtask)
  }
  return { metadata, chains, storage }
}

/**
 * The files of the chain that subtask `subtask` of `parallelism` of chain head `head` restores its
 * keyed state from, when that chain is the only source of it (same parallelism, the head operator
 * in no other chain, the chain starts with a full snapshot of it): the next checkpoint may then be
 * a delta on these files. Undefined otherwise (rescaling, a changed topology): take a full one.
 */
export function restoredChainOf(loaded: LoadedCheckpoint, head: string, subtask: number, parallelism: number): string[] | undefined {
  const task = loaded.metadata.tasks[head]
  const perSubtask = loaded.chains.get(head)
  if (!task || !perSubtask || task.subtasks.length !== parallelism || perSubtask.length !== parallelism) return undefined
  for (const [other, chains] of loaded.chains) {
    if (other !== head && chains.some((chain) => chain?.some((file) => file.operators[head] !== undefined))) return undefined
  }
  const chain = perSubtask[subtask]
  if (chain?.[0]?.operators[head]?.keyed?.type !== 'full') return undefined
  return task.subtasks.find((s) => s.subtask === subtask)?.files
}

/**
 * The latest complete checkpoint that can be read, newest first; a corrupt or truncated one is
 * reported through `onSkip` and the previous one is tried.
 */
export async function loadLatestCheckpoint(storage: CheckpointStorage, onSkip: (e: FluxionError) => void = () => {}): Promise<LoadedCheckpoint | undefined> {
  for (const id of await storage.listComplete()) {
    try {
      return await loadCheckpoint(storage, await storage.readMetadata(id))
    } catch (e) {
      if (!(e instanceof FluxionError)) throw e
      onSkip(e)
    }
  }
  return undefined
}

/** The operator snapshots to restore operator `vertexKey`'s subtask `subtask` of `parallelism` from. */
export function operatorSnapshotsFor(loaded: LoadedCheckpoint, vertexKey: string, subtask: number, parallelism: number): OperatorSnapshot[] {
  const out: OperatorSnapshot[] = []
  for (const perSubtask of loaded.chains.values()) {
    const former = perSubtask.filter((chain) => chain?.some((f) => f.operators[vertexKey] !== undefined))
    if (former.length === 0) continue
    const sameLayout = former.length === parallelism
    perSubtask.forEach((chain, j) => {
      if (!chain || (sameLayout && j !== subtask)) return
      chain.forEach((file, i) => {
        const snap = file.operators[vertexKey]
        if (!snap) return
        const last = i === chain.length - 1
        out.push({
          keyed: snap.keyed,
          keyedIncremental: snap.keyedIncremental,
          timers: last ? snap.timers : undefined,
          operator: last && j % parallelism === subtask ? snap.operator : undefined,
        })
      })
    })
  }
  return out
}

/**
 * The source snapshots (splits) for source `vertexKey`'s subtask `subtask` of `parallelism`: those
 * of former subtasks j with j % parallelism == subtask, or, with `everySubtask` (sources that place
 * their splits themselves, see Source.splitOwner), those of every former subtask.
 */
export function sourceSnapshotsFor(loaded: LoadedCheckpoint, vertexKey: string, subtask: number, parallelism: number, everySubtask = false): SourceSnapshot[] | undefined {
  const perSubtask = loaded.chains.get(vertexKey)
  if (!perSubtask) return undefined
  const out: SourceSnapshot[] = []
  perSubtask.forEach((chain, j) => {
    const last = chain?.[chain.length - 1]
    if (last?.source && (everySubtask || j % parallelism === subtask)) out.push(last.source)
  })
  return out
}

/** Operator state of every former subtask of `vertexKey` (for recovering a sink's pending commits). */
export function operatorStatesOf(loaded: LoadedCheckpoint, vertexKey: string): unknown[] {
  const out: unknown[] = []
  for (const perSubtask of loaded.chains.values()) {
    for (const chain of perSubtask) {
      const last = chain?.[chain.length - 1]
      const state = last?.operators[vertexKey]?.operator
      if (state !== undefined) out.push(state)
    }
  }
  return out
}
