/**
 * Commits offsets to a consumer group without joining it, as Kafka's Java consumer does after
 * assign() and as Flink's KafkaSource does on checkpoint completion: an OffsetCommit request with
 * generation -1 and no member id, sent to the group's coordinator. The broker accepts it while the
 * group has no active members. The offsets are informational (lag monitoring, `startFrom:
 * 'committed'`); Fluxion's positions live in its checkpoints.
 *
 * kafkajs has no public call for this, so this module uses its cluster object (the one its admin
 * client is built on), reached through the client's private createCluster symbol. kafkajs is pinned
 * (2.2.4, its last release) and tests/kafka/kafka-source.spec.ts checks the committed offsets.
 */
import type { Kafka } from 'kafkajs'

interface Coordinator {
  connect(): Promise<void>
  offsetCommit(request: {
    groupId: string
    groupGenerationId: number
    memberId: string
    topics: { topic: string; partitions: { partition: number; offset: string }[] }[]
  }): Promise<{ responses: { topic: string; partitions: { partition: number; errorCode: number }[] }[] }>
}

interface Cluster {
  connect(): Promise<void>
  disconnect(): Promise<void>
  findGroupCoordinator(request: { groupId: string }): Promise<Coordinator>
}

export interface CommitOffset {
  topic: string
  partition: number
  /** The next offset to read (Kafka's convention for committed offsets). */
  offset: number
}

export class OffsetCommitter {
  private readonly cluster: Cluster
  private connected: Promise<void> | undefined
  private closed = false

  constructor(
    kafka: Kafka,
    private readonly groupId: string,
  ) {
    const create = Object.getOwnPropertySymbols(kafka).find((s) => s.description === 'private:Kafka:createCluster')
    if (!create) throw new Error('kafkajs internals changed: no createCluster on the client (offset commits need kafkajs 2.2.x)')
    this.cluster = (kafka as unknown as Record<symbol, (o: object) => Cluster>)[create]({ allowAutoTopicCreation: false })
  }

  /** Commits the offsets; rejects when the coordinator refuses any of them, or after close(). Tries twice (the coordinator may move). */
  async commit(offsets: readonly CommitOffset[]): Promise<void> {
    if (offsets.length === 0) return
    if (this.closed) throw new Error('offset committer closed')
    const byTopic = new Map<string, { partition: number; offset: string }[]>()
    for (const o of offsets) {
      let list = byTopic.get(o.topic)
      if (!list) byTopic.set(o.topic, (list = []))
      list.push({ partition: o.partition, offset: String(o.offset) })
    }
    const topics = [...byTopic].map(([topic, partitions]) => ({ topic, partitions }))
    for (let attempt = 1; ; attempt++) {
      try {
        this.connected ??= this.cluster.connect()
        await this.connected
        // Closed while connecting: close() may have disconnected before the connect completed.
        if (this.closed) {
          await this.cluster.disconnect().catch(() => {})
          throw new Error('offset committer closed')
        }
        const coordinator = await this.cluster.findGroupCoordinator({ groupId: this.groupId })
        await coordinator.connect() // negotiates API versions (else kafkajs falls back to v0)
        const { responses } = await coordinator.offsetCommit({ groupId: this.groupId, groupGenerationId: -1, memberId: '', topics })
        const failed = responses.flatMap((r) => r.partitions.filter((p) => p.errorCode !== 0).map((p) => `${r.topic}-${p.partition} (error ${p.errorCode})`))
        if (failed.length > 0) throw new Error(`offset commit refused for ${failed.join(', ')}`)
        return
      } catch (e) {
        if (attempt >= 2 || this.closed) throw e
        this.connected = undefined
      }
    }
  }

  /** Disconnects; a commit still connecting disconnects once connected. Later commits reject. */
  async close(): Promise<void> {
    this.closed = true
    if (this.connected) await this.cluster.disconnect().catch(() => {})
  }
}
