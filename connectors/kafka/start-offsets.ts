/**
 * Where a KafkaSource starts reading a partition that has no checkpointed position (Flink's
 * OffsetsInitializer): earliest, latest, the first record at or after a timestamp, or the
 * group's committed offset with a reset strategy for partitions without one.
 */
import type { Admin } from 'kafkajs'
import { FluxionError } from '../../engine/errors.ts'

/** What to do for a partition without a (valid) committed offset. */
export type OffsetResetStrategy = 'earliest' | 'latest' | 'fail'

export type StartFrom =
  | 'earliest'
  | 'latest'
  /** The first record with a timestamp >= `timestamp` (epoch ms); the end of the partition if none. */
  | { timestamp: number }
  /** The group's committed offsets; 'earliest' for partitions without one. */
  | 'committed'
  /** The group's committed offsets; `reset` for partitions without one (or with one out of range). */
  | { committed: { reset: OffsetResetStrategy } }

export function validateStartFrom(from: unknown, groupId: string | undefined): void {
  const bad = (why: string) => new FluxionError('FLX_INVALID_CONFIG', `KafkaSource: startFrom ${why}`)
  if (from === 'earliest' || from === 'latest') return
  if (from === 'committed' || (typeof from === 'object' && from !== null && 'committed' in from)) {
    if (!groupId) throw bad("'committed' needs a groupId: the group whose committed offsets to read")
    if (from !== 'committed') {
      const reset = (from as { committed: { reset?: unknown } }).committed?.reset
      if (reset !== 'earliest' && reset !== 'latest' && reset !== 'fail') throw bad(`{ committed: { reset } }: reset must be 'earliest', 'latest' or 'fail', got ${JSON.stringify(reset)}`)
    }
    return
  }
  if (typeof from === 'object' && from !== null && 'timestamp' in from) {
    const t = (from as { timestamp: unknown }).timestamp
    if (typeof t !== 'number' || !Number.isFinite(t) || t < 0) throw bad(`{ timestamp }: timestamp must be epoch milliseconds >= 0, got ${String(t)}`)
    return
  }
  throw bad(`must be 'earliest', 'latest', 'committed', { committed: { reset } } or { timestamp }, got ${JSON.stringify(from)}`)
}

/** The start offset of each of `partitions` of `topic` (all of them must exist). */
export async function startOffsets(admin: Admin, topic: string, partitions: readonly number[], from: StartFrom, groupId: string | undefined): Promise<Map<number, number>> {
  const bounds = new Map((await admin.fetchTopicOffsets(topic)).map((o) => [o.partition, { low: Number(o.low), high: Number(o.high) }]))
  const range = (p: number) => {
    const b = bounds.get(p)
    if (!b) throw new FluxionError('FLX_SOURCE_FAILED', `KafkaSource: partition ${p} of topic "${topic}" has no offsets (it disappeared?)`, { retriable: true })
    return b
  }
  const out = new Map<number, number>()
  if (from === 'earliest' || from === 'latest') {
    for (const p of partitions) out.set(p, from === 'earliest' ? range(p).low : range(p).high)
  } else if (typeof from === 'object' && 'timestamp' in from) {
    const byTime = new Map((await admin.fetchTopicOffsetsByTimestamp(topic, from.timestamp)).map((o) => [o.partition, Number(o.offset)]))
    for (const p of partitions) {
      const n = byTime.get(p) ?? -1
      out.set(p, n >= 0 ? n : range(p).high)
    }
  } else {
    const reset: OffsetResetStrategy = from === 'committed' ? 'earliest' : (from as { committed: { reset: OffsetResetStrategy } }).committed.reset
    const [committed] = await admin.fetchOffsets({ groupId: groupId!, topics: [topic] })
    const byPartition = new Map((committed?.partitions ?? []).map((c) => [c.partition, Number(c.offset)]))
    for (const p of partitions) {
      const { low, high } = range(p)
      const c = byPartition.get(p) ?? -1
      if (c >= low && c <= high) out.set(p, c)
      else if (reset === 'fail') {
        throw new FluxionError(
          'FLX_NO_COMMITTED_OFFSET',
          `KafkaSource: group "${groupId}" has ${c < 0 ? 'no committed offset' : `committed offset ${c}, outside [${low}, ${high}],`} for ${topic}-${p}. ` +
            "Start from { committed: { reset: 'earliest' } } (or 'latest'), or commit offsets for the group first.",
        )
      } else out.set(p, reset === 'earliest' ? low : high)
    }
  }
  return out
}
