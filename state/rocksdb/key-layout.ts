/**
 * RocksDB key layout of the RocksDB backend:
 *
 *   [key group: u16 BE][state id: u16 BE][namespace][state key]
 *
 *   namespace: 0x01 + float64 BE (number) | 0x02 + u32 BE length + UTF-8 | 0x03 + u32 BE length + UTF-16LE
 *   state key: 0x00 + UTF-8 | 0x01 + UTF-16LE, to the end of the key
 *
 * The key group leads, so the entries of a key-group range are one contiguous key range (a
 * snapshot or rescaling reads exactly its range). Strings that are not well-formed UTF-16 (lone
 * surrogates) use UTF-16LE so that every key decodes back to the same string.
 */
import type { Namespace } from '../backend.ts'

const NS_NUMBER = 1
const NS_UTF8 = 2
const NS_UTF16 = 3
const SK_UTF8 = 0
const SK_UTF16 = 1

const wellFormed = (s: string): boolean => (s as unknown as { isWellFormed(): boolean }).isWellFormed()

export function encodeKey(keyGroup: number, stateId: number, namespace: Namespace, stateKey: string): Buffer {
  const nsNumber = typeof namespace === 'number'
  const nsEncoding = nsNumber ? undefined : wellFormed(namespace) ? 'utf8' : 'utf16le'
  const nsLength = nsNumber ? 8 : Buffer.byteLength(namespace, nsEncoding)
  const skEncoding = wellFormed(stateKey) ? 'utf8' : 'utf16le'
  const skLength = Buffer.byteLength(stateKey, skEncoding)
  const out = Buffer.allocUnsafe(4 + (nsNumber ? 1 : 5) + nsLength + 1 + skLength)
  out.writeUInt16BE(keyGroup, 0)
  out.writeUInt16BE(stateId, 2)
  let at: number
  if (nsNumber) {
    out[4] = NS_NUMBER
    at = out.writeDoubleBE(namespace === 0 ? 0 : namespace, 5) // -0 and 0 are one namespace, as in a Map
  } else {
    out[4] = nsEncoding === 'utf8' ? NS_UTF8 : NS_UTF16
    out.writeUInt32BE(nsLength, 5)
    at = 9 + out.write(namespace, 9, nsEncoding)
  }
  out[at] = skEncoding === 'utf8' ? SK_UTF8 : SK_UTF16
  out.write(stateKey, at + 1, skEncoding)
  return out
}

export interface DecodedKey {
  keyGroup: number
  stateId: number
  namespace: Namespace
  stateKey: string
}

export function decodeKey(key: Buffer): DecodedKey {
  const keyGroup = key.readUInt16BE(0)
  const stateId = key.readUInt16BE(2)
  let namespace: Namespace
  let at: number
  if (key[4] === NS_NUMBER) {
    namespace = key.readDoubleBE(5)
    at = 13
  } else {
    const len = key.readUInt32BE(5)
    namespace = key.toString(key[4] === NS_UTF8 ? 'utf8' : 'utf16le', 9, 9 + len)
    at = 9 + len
  }
  const stateKey = key.toString(key[at] === SK_UTF8 ? 'utf8' : 'utf16le', at + 1)
  return { keyGroup, stateId, namespace, stateKey }
}

/** The first key of `keyGroup` (an inclusive lower bound; keyGroup + 1 gives the exclusive upper bound). */
export function keyGroupBound(keyGroup: number): Buffer {
  const out = Buffer.allocUnsafe(2)
  out.writeUInt16BE(keyGroup, 0)
  return out
}
