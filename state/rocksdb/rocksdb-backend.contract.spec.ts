/**
 * The backend contract suite against the RocksDB backend: once with a cache that holds the test
 * state, once with a tiny cache (8 entries) so that nearly every access misses, flushes and
 * evicts. Every backend gets its own temporary directory.
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll } from 'vitest'
import type { KeyedStateBackend } from '../backend.ts'
import { backendContract } from '../testing/backend-contract.ts'
import { RocksDbKeyedStateBackend } from './rocksdb-backend.ts'

const root = mkdtempSync(join(tmpdir(), 'fluxion-rocksdb-contract-'))
afterAll(() => rmSync(root, { recursive: true, force: true }))
let n = 0

for (const cacheEntries of [100_000, 8]) {
  backendContract(`rocksdb (cache ${cacheEntries})`, {
    create: ({ maxParallelism, keyGroupRange, clock }) =>
      RocksDbKeyedStateBackend.open({ dir: join(root, `db-${n++}`), maxParallelism, keyGroupRange, clock, cacheEntries }),
    destroy: (b: KeyedStateBackend) => (b as RocksDbKeyedStateBackend).close(),
    // Opening and closing a RocksDB costs ~20 ms, so property tests run fewer cases than on the
    // memory backend (which runs them all against the same shared handles and codec).
    runs: cacheEntries > 8 ? 0.15 : 0.1,
  })
}
