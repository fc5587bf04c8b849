/**
 * Types for the parts of @nxtedition/rocksdb 12.2.12 that the RocksDB backend uses. The package
 * ships no types, and the synchronous calls are underscore methods, not its documented API: the
 * version is pinned in package.json and the backend contract suite guards these signatures.
 */
declare module '@nxtedition/rocksdb' {
  export interface RocksOpenOptions {
    createIfMissing?: boolean
    errorIfExists?: boolean
    /** ZSTD compression of SST files (default true). */
    compression?: boolean
    walCompression?: boolean
    /** Block cache in bytes (default 8 MiB). */
    cacheSize?: number
    /** Background threads (default: half the cores). */
    parallelism?: number
    compaction?: 'level' | 'universal'
    memtableMemoryBudget?: number
    optimize?: 'point-lookup'
  }

  /** A native WriteBatch; `_writeSync` applies it atomically. */
  export interface RocksChainedBatch {
    _put(key: Uint8Array, value: Uint8Array, options?: object): void
    _del(key: Uint8Array, options?: object): void
    _writeSync(options?: { sync?: boolean; lowPriority?: boolean }): void
    _closeSync(): void
    readonly length: number
  }

  export interface RocksIteratorOptions {
    gte?: Uint8Array
    lt?: Uint8Array
    keys?: boolean
    values?: boolean
    keyEncoding: 'buffer'
    valueEncoding: 'buffer'
    fillCache?: boolean
  }

  export interface RocksIterator {
    /** Up to `size` entries as [key, value, key, value, …]; `finished` once the range is exhausted. */
    _nextvSync(size: number, options?: object): { rows: (Buffer | undefined)[]; finished: boolean }
    _closeSync(): void
  }

  export class RocksLevel {
    constructor(location: string, options?: object)
    readonly status: 'opening' | 'open' | 'closing' | 'closed'
    open(options?: RocksOpenOptions): Promise<void>
    close(): Promise<void>
    /** Synchronous multi-get: a Buffer per found key, undefined when missing, null on timeout. */
    _getManySync(keys: Uint8Array[], options?: { fillCache?: boolean }): (Buffer | undefined | null)[]
    _chainedBatch(): RocksChainedBatch
    _iterator(options: RocksIteratorOptions): RocksIterator
  }
}
