/**
 * Identity of a user key inside the backends' tables: numbers stay numbers (cheap to hash),
 * everything else is its canonical state key string (engine/keys.ts). Distinct keys never share a
 * map key, and a map key converts to and from the state key that snapshot rows carry.
 */
import { stateKeyOf } from '../../engine/keys.ts'

export type MapKey = string | number

export function mapKeyOf(key: unknown): MapKey {
  return typeof key === 'number' && !Number.isNaN(key) ? (key === 0 ? 0 : key) : stateKeyOf(key)
}

export function stateKeyOfMapKey(mapKey: MapKey): string {
  return typeof mapKey === 'number' ? stateKeyOf(mapKey) : mapKey
}

/** Inverse of stateKeyOfMapKey: state keys of numbers ("\u0000n…") become numbers again. */
export function mapKeyOfStateKey(stateKey: string): MapKey {
  if (stateKey.charCodeAt(0) === 0 && stateKey.charCodeAt(1) === 0x6e /* n */) return Number(stateKey.slice(2))
  return stateKey
}
