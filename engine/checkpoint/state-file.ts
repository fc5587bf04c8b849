/**
 * The framed file format of checkpoint storage, and a writer that never blocks the thread for
 * long: a big snapshot (1M rows: about a second of v8.serialize) is serialized in slices of a few
 * milliseconds, each written before the next starts, so tasks on the same thread keep running
 * between slices.
 *
 * Header (16 bytes): magic, crc32 of the payload (u32 BE), payload length (u64 BE). Payloads:
 *  - 'FLX1': v8.serialize(value) (metadata files, and state files of older versions);
 *  - 'FLX2': segments, each a u32 BE length and a v8.serialize'd value: first the manifest
 *    { skeleton, arrays: [{ path, length }] }, where `skeleton` is the value with every long
 *    array (found through plain objects, e.g. the rows of keyed state) replaced by [], then the
 *    elements of each of those arrays in order, as arrays of up to SLICE_ELEMENTS elements.
 * A truncated or corrupt file fails the read with FLX_CHECKPOINT_CORRUPT.
 */
import { open, rename } from 'node:fs/promises'
import { deserialize, serialize } from 'node:v8'
import { crc32 } from 'node:zlib'
import { FluxionError } from '../errors.ts'

const MAGIC_V8 = Buffer.from('FLX1')
const MAGIC_SEGMENTS = Buffer.from('FLX2')
const HEADER = 16
/** Arrays longer than this are written as separate slices. */
const SLICE_ELEMENTS = 1024
/** Longest synchronous stretch of serialization before the writer yields (ms). */
const SLICE_MS = 4
/** Bytes gathered before a write, at most. */
const WRITE_BYTES = 4 << 20
/** Plain objects deeper than this are not searched for long arrays. */
const MAX_DEPTH = 8

type Path = (string | number)[]

function header(magic: Buffer, crc: number, length: number): Buffer {
  const h = Buffer.alloc(HEADER)
  magic.copy(h, 0)
  h.writeUInt32BE(crc, 4)
  h.writeBigUInt64BE(BigInt(length), 8)
  return h
}

/** 'FLX1' framing of a small value, synchronously (metadata files). */
export function frame(value: unknown): Buffer {
  const payload = serialize(value)
  return Buffer.concat([header(MAGIC_V8, crc32(payload), payload.length), payload])
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  if (v === null || typeof v !== 'object' || Array.isArray(v)) return false
  const proto = Object.getPrototypeOf(v)
  return proto === Object.prototype || proto === null
}

/**
 * Splits `value` into a skeleton (plain objects copied on the way to long arrays, nothing else
 * copied or changed) and the long arrays with their paths.
 */
function split(value: unknown, path: Path, arrays: { path: Path; array: unknown[] }[], depth: number): unknown {
  if (Array.isArray(value)) {
    if (value.length <= SLICE_ELEMENTS) return value
    arrays.push({ path, array: value })
    return []
  }
  if (depth >= MAX_DEPTH || !isPlainObject(value)) return value
  let copy: Record<string, unknown> | undefined
  for (const key of Object.keys(value)) {
    const v = value[key]
    const s = split(v, [...path, key], arrays, depth + 1)
    if (s !== v) (copy ??= { ...value })[key] = s
  }
  return copy ?? value
}

/**
 * Writes `value` to `path` durably (temporary file, fsync, rename) in the 'FLX2' format, yielding
 * to the event loop after every slice of serialization. Resolves with the file's size.
 */
export async function writeStateFile(path: string, value: unknown): Promise<number> {
  const arrays: { path: Path; array: unknown[] }[] = []
  const skeleton = split(value, [], arrays, 0)
  const tmp = `${path}.tmp`
  const handle = await open(tmp, 'w')
  let position = HEADER
  try {
    let crc = 0
    let pending: Buffer[] = []
    let pendingBytes = 0
    const add = (v: unknown): void => {
      const bytes = serialize(v)
      const length = Buffer.alloc(4)
      length.writeUInt32BE(bytes.length, 0)
      crc = crc32(bytes, crc32(length, crc))
      pending.push(length, bytes)
      pendingBytes += 4 + bytes.length
    }
    const flush = async (): Promise<void> => {
      if (pendingBytes === 0) return
      const buffers = pending
      pending = []
      const { bytesWritten } = await handle.writev(buffers, position)
      if (bytesWritten !== pendingBytes) throw new Error(`short write: ${bytesWritten} of ${pendingBytes} bytes`)
      position += pendingBytes
      pendingBytes = 0
    }
    add({ skeleton, arrays: arrays.map((a) => ({ path: a.path, length: a.array.length })) })
    for (const { array } of arrays) {
      let i = 0
      while (i < array.length) {
        const started = performance.now()
        while (i < array.length && pendingBytes < WRITE_BYTES && performance.now() - started < SLICE_MS) {
          const end = Math.min(array.length, i + SLICE_ELEMENTS)
          add(array.slice(i, end))
          i = end
        }
        await flush() // the thread is free while the bytes go to the file
      }
    }
    await flush()
    await handle.write(header(MAGIC_SEGMENTS, crc, position - HEADER), 0, HEADER, 0)
    await handle.sync()
  } finally {
    await handle.close()
  }
  await rename(tmp, path)
  return position
}

/** Reads a framed file's value ('FLX1' or 'FLX2'); `where` names it in errors. */
export function unframe(bytes: Buffer, where: string): unknown {
  const corrupt = (why: string) =>
    new FluxionError('FLX_CHECKPOINT_CORRUPT', `checkpoint file ${where} is unreadable: ${why}. Fluxion falls back to the previous complete checkpoint; delete this one if it keeps failing.`)
  const magic = bytes.subarray(0, 4)
  const segmented = magic.equals(MAGIC_SEGMENTS)
  if (bytes.length < HEADER || !(segmented || magic.equals(MAGIC_V8))) throw corrupt('not a Fluxion checkpoint file (bad header)')
  const length = Number(bytes.readBigUInt64BE(8))
  if (bytes.length - HEADER !== length) throw corrupt(`truncated: ${bytes.length - HEADER} of ${length} payload bytes`)
  const payload = bytes.subarray(HEADER)
  if (crc32(payload) !== bytes.readUInt32BE(4)) throw corrupt('checksum mismatch')
  try {
    return segmented ? readSegments(payload) : deserialize(payload)
  } catch (e) {
    throw corrupt(`cannot decode: ${(e as Error).message}`)
  }
}

function readSegments(payload: Buffer): unknown {
  let offset = 0
  const next = (): unknown => {
    if (offset + 4 > payload.length) throw new Error('a segment is missing')
    const length = payload.readUInt32BE(offset)
    const end = offset + 4 + length
    if (end > payload.length) throw new Error('a segment runs past the end')
    const value = deserialize(payload.subarray(offset + 4, end))
    offset = end
    return value
  }
  const { skeleton, arrays } = next() as { skeleton: unknown; arrays: { path: Path; length: number }[] }
  let root = skeleton
  for (const { path, length } of arrays) {
    const array: unknown[] = []
    while (array.length < length) {
      const slice = next()
      if (!Array.isArray(slice) || slice.length === 0) throw new Error('a slice is not an array')
      for (let i = 0; i < slice.length; i++) array.push(slice[i])
    }
    if (array.length !== length) throw new Error(`an array has ${array.length} elements, the manifest says ${length}`)
    if (path.length === 0) root = array
    else {
      let parent = root as Record<string | number, unknown>
      for (let i = 0; i < path.length - 1; i++) parent = parent[path[i]] as Record<string | number, unknown>
      parent[path[path.length - 1]] = array
    }
  }
  if (offset !== payload.length) throw new Error('bytes after the last segment')
  return root
}
