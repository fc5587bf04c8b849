/**
 * Built-in sinks: collect into an array (executeAndCollect), JSON Lines files, and the console.
 */
import { closeSync, mkdirSync, openSync, writeSync } from 'node:fs'
import { dirname } from 'node:path'
import type { Sink, SinkWriter, SinkWriterContext } from '../operators/sink.ts'

/** Appends every record to `target` (all subtasks share it; order across subtasks is arbitrary). */
export class CollectSink<T> implements Sink<T> {
  readonly name = 'collect'
  constructor(readonly target: T[]) {}
  createWriter(): SinkWriter<T> {
    const target = this.target
    return { write: (value) => void target.push(value) }
  }
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
