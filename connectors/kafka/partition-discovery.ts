/**
 * Which Kafka partitions a KafkaSource reads and which subtask reads each: topics are a list or a
 * pattern; the owner of a partition is Flink's KafkaSourceEnumerator.getSplitOwner, so every
 * subtask computes the same assignment from the same metadata without talking to the others.
 */
import type { Admin } from 'kafkajs'
import { FluxionError } from '../../engine/errors.ts'

/** Topics by name, or every topic whose whole name matches the pattern (as Flink's setTopicPattern). */
export type TopicSelector = readonly string[] | RegExp

/** Java's String.hashCode (UTF-16 code units, 32-bit overflow). */
function javaHashCode(s: string): number {
  let h = 0
  for (let i = 0; i < s.length; i++) h = (Math.imul(31, h) + s.charCodeAt(i)) | 0
  return h
}

/**
 * The subtask of `parallelism` that reads `topic`/`partition`: Flink's getSplitOwner, which spreads
 * the partitions of each topic round-robin from a topic-dependent start.
 */
export function partitionOwner(topic: string, partition: number, parallelism: number): number {
  const start = (Math.imul(javaHashCode(topic), 31) & 0x7fffffff) % parallelism
  return (start + partition) % parallelism
}

/** Split id of a partition: `${topic}-${partition}` (the partition is after the last '-'). */
export const splitIdOf = (topic: string, partition: number): string => `${topic}-${partition}`

/** The topic and partition of a split id. */
export function parseSplitId(id: string): { topic: string; partition: number } {
  const dash = id.lastIndexOf('-')
  return { topic: id.slice(0, dash), partition: Number(id.slice(dash + 1)) }
}

/** A pattern that must match a whole topic name, without the state of the g and y flags. */
export function wholeNamePattern(pattern: RegExp): RegExp {
  return new RegExp(`^(?:${pattern.source})$`, pattern.flags.replace(/[gy]/g, ''))
}

export function describeTopics(topics: TopicSelector): string {
  return topics instanceof RegExp ? String(topics) : topics.join(', ')
}

/**
 * Every partition of the selected topics now, by topic. Internal topics (names starting with "__")
 * never match a pattern. `requireListed`: a listed topic that does not exist is an error (at
 * start-up); later discoveries skip it. `existing`, when given, receives the name of every topic
 * in the cluster (selected or not, with or without leaders): what tells a deleted topic apart from
 * partitions that only lack a leader for a moment.
 */
export async function discoverPartitions(admin: Admin, topics: TopicSelector, requireListed: boolean, existing?: Set<string>): Promise<Map<string, number[]>> {
  const { topics: all } = await admin.fetchTopicMetadata({ topics: [] })
  if (existing) for (const t of all) existing.add(t.name)
  // A partition without a leader yet (just created) is left for the next discovery.
  const byName = new Map(all.map((t) => [t.name, t.partitions.filter((p) => p.leader >= 0).map((p) => p.partitionId).sort((a, b) => a - b)]))
  const out = new Map<string, number[]>()
  if (topics instanceof RegExp) {
    const re = wholeNamePattern(topics)
    for (const [name, partitions] of byName) if (!name.startsWith('__') && re.test(name)) out.set(name, partitions)
    return out
  }
  for (const name of topics) {
    const partitions = byName.get(name)
    if (partitions) out.set(name, partitions)
    else if (requireListed) {
      throw new FluxionError('FLX_SOURCE_FAILED', `KafkaSource: topic "${name}" does not exist. Create it first, or use a RegExp in \`topics\` to pick up topics created later.`)
    }
  }
  return out
}
