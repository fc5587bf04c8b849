/**
 * Background compaction of incremental checkpoints (DESIGN.md §4): a subtask's chain of state
 * files (a full base, then deltas) is folded into one new base file, off the barrier path, so that
 * checkpoints stay incremental without the chain (and restore time) growing forever.
 */
import type { KeyedStateSnapshot, SnapshotRow } from '../../state/backend.ts'
import type { OperatorSnapshot } from '../operator.ts'
import type { TaskSnapshot } from './types.ts'

/**
 * Applies keyed snapshots in order into one full snapshot: a full one replaces the key groups it
 * covers, an incremental one applies its writes and deletions (null rows).
 */
export function mergeKeyedSnapshots(snapshots: readonly KeyedStateSnapshot[]): KeyedStateSnapshot {
  const last = snapshots[snapshots.length - 1]
  const states = new Map<string, { kind: KeyedStateSnapshot['states'][string]['kind']; rows: Map<string, SnapshotRow> }>()
  for (const snap of snapshots) {
    if (snap.type === 'full') {
      const { start, end } = snap.keyGroupRange
      for (const s of states.values()) for (const [id, row] of s.rows) if (row[0] >= start && row[0] <= end) s.rows.delete(id)
    }
    for (const [name, { kind, rows }] of Object.entries(snap.states)) {
      let s = states.get(name)
      if (!s) states.set(name, (s = { kind, rows: new Map() }))
      for (const row of rows) {
        const id = `${typeof row[2]}:${row[2]}\u0001${row[1]}`
        if (row[3] === null) s.rows.delete(id)
        else s.rows.set(id, row)
      }
    }
  }
  const out: KeyedStateSnapshot = { version: 1, type: 'full', maxParallelism: last.maxParallelism, keyGroupRange: { ...last.keyGroupRange }, states: {} }
  for (const [name, s] of states) out.states[name] = { kind: s.kind, rows: [...s.rows.values()] }
  return out
}

/** Folds a subtask's chain of task snapshots (oldest first) into one with full keyed state. */
export function compactTaskChain(chain: readonly TaskSnapshot[]): TaskSnapshot {
  const last = chain[chain.length - 1]
  const operators: Record<string, OperatorSnapshot> = {}
  for (const [key, op] of Object.entries(last.operators)) {
    const keyed = chain.map((t) => t.operators[key]?.keyed).filter((k): k is KeyedStateSnapshot => k !== undefined)
    operators[key] = { ...op, keyed: keyed.length > 0 ? mergeKeyedSnapshots(keyed) : undefined, keyedIncremental: false }
  }
  return { operators, source: last.source }
}
