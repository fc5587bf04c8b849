/**
 * Record batches as bytes, to cross between worker threads (DESIGN.md §3 "Workers"): values,
 * timestamps and (on keyed edges) keys are written with `v8.serialize` into one buffer that is
 * transferred, not copied, to the consuming worker; batches of flat records (up to 16 shapes) go
 * as one buffer of cells and one string instead (flat-records.ts: the same values come out, ≈ 2×
 * cheaper). Records must be
 * plain data (what the structured-clone algorithm accepts: objects, arrays, Map, Set, Date, typed
 * arrays, bigint); class instances arrive as plain objects, and functions or symbols cannot cross.
 */
import { deserialize, serialize } from 'node:v8'
import { FluxionError } from '../../errors.ts'
import { RecordBatch } from '../channel.ts'
import { decodeFlat, encodeFlat, isFlatBatch, type FlatBatch } from './flat-records.ts'

/** Encodes a batch; `edge` names the edge in the error when a record cannot be serialized. */
export function encodeBatch(batch: RecordBatch, edge: string): ArrayBuffer {
  let bytes: Buffer
  try {
    bytes = serialize(encodeFlat(batch.values, batch.timestamps, batch.keys) ?? [batch.values, batch.timestamps, batch.keys])
  } catch (e) {
    throw new FluxionError(
      'FLX_BAD_RECORD',
      `a record on edge ${edge} cannot cross to another worker thread: ${(e as Error).message}. Records between workers must be plain data (no functions, symbols or class behaviour); run without workers or emit plain objects.`,
      { cause: e },
    )
  }
  return ownBuffer(bytes)
}

export function decodeBatch(buffer: ArrayBuffer): RecordBatch {
  const decoded = deserialize(new Uint8Array(buffer)) as FlatBatch | [unknown[], number[], unknown[] | null]
  const { values, timestamps, keys } = isFlatBatch(decoded) ? decodeFlat(decoded) : { values: decoded[0], timestamps: decoded[1], keys: decoded[2] }
  const batch = new RecordBatch()
  ;(batch as { values: unknown[] }).values = values
  ;(batch as { timestamps: number[] }).timestamps = timestamps
  batch.keys = keys
  return batch
}

/** An ArrayBuffer holding exactly `bytes`, safe to transfer (never a slice of a shared pool). */
export function ownBuffer(bytes: Uint8Array): ArrayBuffer {
  if (bytes.byteOffset === 0 && bytes.byteLength === bytes.buffer.byteLength && bytes.buffer instanceof ArrayBuffer) return bytes.buffer
  return bytes.slice().buffer as ArrayBuffer
}
