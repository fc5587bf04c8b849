/**
 * The backend contract suite against the memory backend (with change tracking, as jobs with
 * checkpoints create it).
 */
import { describe, expect, it } from 'vitest'
import { ValueStateDescriptor } from '../api.ts'
import { backendContract } from '../testing/backend-contract.ts'
import { MemoryKeyedStateBackend } from './memory-backend.ts'

backendContract('memory', {
  create: ({ maxParallelism, keyGroupRange, clock }) => new MemoryKeyedStateBackend(maxParallelism, keyGroupRange, { trackChanges: true, clock }),
  destroy: (b) => b.dispose(),
})

describe('memory: change tracking is opt-in', () => {
  it('refuses snapshotIncremental without trackChanges, and records nothing per write', () => {
    const b = new MemoryKeyedStateBackend(128, { start: 0, end: 127 })
    b.setCurrentKey('k')
    b.getValueState(new ValueStateDescriptor<number>('v')).update(1)
    expect(() => b.snapshotIncremental()).toThrow(/trackChanges/)
    expect(b.snapshot().states.v.rows).toHaveLength(1)
  })
})
