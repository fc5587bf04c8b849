/**
 * Folds the snapshot chain of one backend — a full snapshot, then the incremental snapshots taken
 * after it, in order — into one full snapshot: what the checkpoint layer's background compaction
 * writes as a new base (DESIGN.md §4, "Incremental"). Restoring the result equals restoring the
 * chain. Pure: the input snapshots are not changed (rows are shared, not copied).
 *
 * Rows of an Avro state may come from snapshots with different writer schemas: each row names its
 * own by fingerprint, and the result lists the schemas its rows name (`avroSchemas`).
 */
import { FluxionError } from '../engine/errors.ts'
import type { KeyedStateSnapshot, SnapshotRow, StateSnapshot } from './backend.ts'
import { schemasNamedBy } from './internal/avro.ts'

export function compactSnapshots(chain: readonly KeyedStateSnapshot[]): KeyedStateSnapshot {
  const [base] = chain
  if (base === undefined || base.type !== 'full') {
    throw new FluxionError('FLX_INTERNAL', 'compactSnapshots needs a chain that starts with a full snapshot')
  }
  const states = new Map<string, { kind: StateSnapshot['kind']; rows: Map<string, SnapshotRow>; avroSchemas: Set<string> }>()
  chain.forEach((snap, i) => {
    if (i > 0 && snap.type !== 'incremental') throw new FluxionError('FLX_INTERNAL', `compactSnapshots: snapshot ${i} of the chain is not incremental`)
    if (snap.maxParallelism !== base.maxParallelism || snap.keyGroupRange.start !== base.keyGroupRange.start || snap.keyGroupRange.end !== base.keyGroupRange.end) {
      throw new FluxionError('FLX_INTERNAL', `compactSnapshots: snapshot ${i} of the chain comes from another backend (maxParallelism or key-group range differ)`)
    }
    for (const [name, { kind, rows, avroSchemas }] of Object.entries(snap.states)) {
      let state = states.get(name)
      if (state === undefined) states.set(name, (state = { kind, rows: new Map(), avroSchemas: new Set() }))
      for (const schema of avroSchemas ?? []) state.avroSchemas.add(schema)
      for (const row of rows) {
        const [, stateKey, ns, value] = row
        const id = `${typeof ns === 'number' ? 'n' : 's'}${ns}\u0000${stateKey}`
        if (value === null) state.rows.delete(id)
        else state.rows.set(id, row)
      }
    }
  })
  const out: KeyedStateSnapshot = { version: 1, type: 'full', maxParallelism: base.maxParallelism, keyGroupRange: { ...base.keyGroupRange }, states: {} }
  for (const [name, { kind, rows, avroSchemas }] of states) {
    const s: StateSnapshot = (out.states[name] = { kind, rows: [...rows.values()] })
    if (avroSchemas.size > 0) {
      const named = schemasNamedBy(name, s.rows, avroSchemas)
      if (named.length > 0) s.avroSchemas = named
    }
  }
  return out
}
