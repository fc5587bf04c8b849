/**
 * Background compaction of incremental checkpoints (DESIGN.md §4): a subtask's chain of state
 * files (a full base, then deltas) is folded into one new base file, off the barrier path, so that
 * checkpoints stay incremental without the chain (and restore time) growing forever.
 */
import type { KeyedStateSnapshot } from '../../state/backend.ts'
import { compactSnapshots } from '../../state/compaction.ts'
import type { OperatorSnapshot } from '../operator.ts'
import type { TaskSnapshot } from './types.ts'

/** Folds a subtask's chain of task snapshots (oldest first) into one with full keyed state. */
export function compactTaskChain(chain: readonly TaskSnapshot[]): TaskSnapshot {
  const last = chain[chain.length - 1]
  const operators: Record<string, OperatorSnapshot> = {}
  for (const [key, op] of Object.entries(last.operators)) {
    const keyed = chain.map((t) => t.operators[key]?.keyed).filter((k): k is KeyedStateSnapshot => k !== undefined)
    operators[key] = { ...op, keyed: keyed.length > 0 ? compactSnapshots(keyed) : undefined, keyedIncremental: false }
  }
  return { operators, source: last.source }
}
