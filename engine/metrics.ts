/**
 * A small registry of the job's counters, read by the engine and by whoever exposes them (the
 * JobClient today, Prometheus' /metrics later). Names and labels follow Prometheus conventions:
 * `fluxion_<what>_total{label="value"}`. Counters only grow; they live for the whole job, across
 * restarts.
 */

/** One counter's value, as a plain sample. */
export interface MetricSample {
  name: string
  help: string
  type: 'counter'
  labels: Readonly<Record<string, string>>
  value: number
}

/** A monotonically increasing count. `inc` is a field update: cheap enough for a hot path. */
export class Counter {
  value = 0

  inc(by = 1): void {
    this.value += by
  }
}

export class MetricsRegistry {
  private readonly entries = new Map<string, { name: string; help: string; labels: Record<string, string>; counter: Counter }>()

  /** The counter of `name` with exactly these labels; the same object on every call. */
  counter(name: string, help: string, labels: Readonly<Record<string, string>> = {}): Counter {
    const sorted = Object.keys(labels).sort()
    const id = `${name}{${sorted.map((k) => `${k}=${JSON.stringify(labels[k])}`).join(',')}}`
    let entry = this.entries.get(id)
    if (!entry) {
      entry = { name, help, labels: Object.fromEntries(sorted.map((k) => [k, labels[k]])), counter: new Counter() }
      this.entries.set(id, entry)
    }
    return entry.counter
  }

  /** Every counter's current value, in creation order. */
  samples(): MetricSample[] {
    return [...this.entries.values()].map((e) => ({ name: e.name, help: e.help, type: 'counter', labels: { ...e.labels }, value: e.counter.value }))
  }

  /** Sum of the counters of `name` whose labels include `labels` (0 if none); for tests and quick reads. */
  value(name: string, labels: Readonly<Record<string, string>> = {}): number {
    const want = Object.entries(labels)
    let total = 0
    for (const e of this.entries.values()) {
      if (e.name === name && want.every(([k, v]) => e.labels[k] === v)) total += e.counter.value
    }
    return total
  }
}

/** Names of the counters the engine and the connectors keep (one place, for the exporters). */
export const METRIC = {
  /** Records a source could not read, by source (operator name) and reason (e.g. 'bad-magic-byte'). */
  deadLetters: 'fluxion_source_dead_letters_total',
  /** Offset commits of a Kafka source to its group after a checkpoint, by source and result ('ok' | 'failed'). */
  kafkaOffsetCommits: 'fluxion_kafka_source_offset_commits_total',
  /** Kafka partitions a source subtask started reading after start-up (new partitions, new matching topics), by source. */
  kafkaPartitionsDiscovered: 'fluxion_kafka_source_partitions_discovered_total',
  /** Kafka partitions a source subtask stopped reading because their topic was deleted, by source. */
  kafkaPartitionsDeleted: 'fluxion_kafka_source_partitions_deleted_total',
} as const
