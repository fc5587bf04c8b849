/**
 * Built-in sinks: collect into an array (executeAndCollect), JSON Lines files, and the console.
 */
import { closeSync, mkdirSync, openSync, writeSync } from 'node:fs'
import { dirname } from 'node:path'
import { randomUUID } from 'node:crypto'
import type { Committer, PrecommittingSinkWriter, Sink, SinkWriter, SinkWriterContext, TwoPhaseCommitSink } from '../operators/sink.ts'

/**
 * Appends every record to `target` (all subtasks share it; order across subtasks is arbitrary).
 * Exactly-once: records are held per checkpoint epoch and appended when the checkpoint completes
 * (or when the job finishes), so a job that restarts from a checkpoint never appends twice. Output
 * that a checkpoint restored from another execution holds belongs to that execution's array and
 * is not appended here.
 */
export class CollectSink<T> implements TwoPhaseCommitSink<T, CollectedEpoch<T>> {
  readonly name = 'collect'
  readonly twoPhaseCommit = true
  private readonly committed = new Set<string>()
  private nextWriter = 0
  /** Prefix of the ids of this sink's epochs; worker threads commit into this sink with it (engine/runtime/workers). */
  readonly instance = randomUUID()

  constructor(readonly target: T[]) {}

  createWriter(ctx: SinkWriterContext): PrecommittingSinkWriter<T, CollectedEpoch<T>> {
    return epochBufferingWriter<T>(`${this.instance}.${ctx.subtaskIndex}.${this.nextWriter++}`)
  }

  createCommitter(): Committer<CollectedEpoch<T>> {
    return {
      commit: (epochs) => {
        for (const e of epochs) {
          if (this.committed.has(e.id) || !e.id.startsWith(this.instance)) continue
          this.committed.add(e.id)
          for (const r of e.records) this.target.push(r)
        }
      },
    }
  }
}

/**
 * A writer that holds the records of each checkpoint epoch and hands them over at prepareCommit as
 * one epoch whose id (`<writerId>.<checkpoint id>`) is unique, so committing it twice is detectable.
 */
export function epochBufferingWriter<T>(writerId: string): PrecommittingSinkWriter<T, CollectedEpoch<T>> {
  let records: T[] = []
  return {
    write: (value) => void records.push(value),
    prepareCommit(epoch) {
      const out = [{ id: `${writerId}.${epoch}`, records }]
      records = []
      return out
    },
  }
}

export interface CollectedEpoch<T> {
  id: string
  records: T[]
}

/**
 * Writes one JSON document per line. With parallelism 1 it writes `path`; subtask i of p > 1
 * writes `path` with `-i` before the extension. Buffered; flushed every `flushEvery` records and
 * at the end of input.
 */
export class JsonLinesFileSink<T> implements Sink<T> {
  readonly name: string
  constructor(
    readonly path: string,
    private readonly flushEvery = 1024,
  ) {
    this.name = `json-lines-sink(${path})`
  }

  createWriter(ctx: SinkWriterContext): SinkWriter<T> {
    const file = ctx.parallelism === 1 ? this.path : this.path.replace(/(\.[^./]*)?$/, (ext) => `-${ctx.subtaskIndex}${ext}`)
    mkdirSync(dirname(file), { recursive: true })
    const fd = openSync(file, 'w')
    let buffer: string[] = []
    const flush = () => {
      if (buffer.length === 0) return
      writeSync(fd, buffer.join(''))
      buffer = []
    }
    let closed = false
    return {
      write: (value) => {
        buffer.push(JSON.stringify(value) + '\n')
        if (buffer.length >= this.flushEvery) flush()
      },
      flush,
      close: () => {
        if (closed) return
        closed = true
        try {
          flush()
        } finally {
          closeSync(fd)
        }
      },
    }
  }
}

/** Prints each record as JSON to stdout, prefixed with the subtask when parallel (like Flink's print()). */
export class PrintSink<T> implements Sink<T> {
  readonly name = 'print'
  constructor(private readonly prefix = '') {}
  createWriter(ctx: SinkWriterContext): SinkWriter<T> {
    const label = [this.prefix, ctx.parallelism > 1 ? `${ctx.subtaskIndex + 1}` : ''].filter(Boolean).join(':')
    const lead = label ? `${label}> ` : ''
    return { write: (value) => void process.stdout.write(lead + JSON.stringify(value, bigintReplacer) + '\n') }
  }
}

function bigintReplacer(_k: string, v: unknown): unknown {
  return typeof v === 'bigint' ? v.toString() : v
}
