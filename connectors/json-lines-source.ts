/**
 * Reads JSON Lines files: one JSON value per line. Files are spread over the source's subtasks.
 * A line that is not valid JSON goes to the DEAD_LETTERS side output with its file and line
 * number (or fails the job with FLX_BAD_RECORD when nobody consumes dead letters). Blank lines are
 * skipped.
 */
import { createReadStream, type ReadStream } from 'node:fs'
import { FluxionError } from '../engine/errors.ts'
import type { InputStatus, ReaderOutput, Source, SourceReader, SourceReaderContext } from '../engine/source.ts'

const HIGH_WATER_LINES = 16_384
/** Marks the end of a file in the line buffer. */
const END_OF_FILE: unique symbol = Symbol('end-of-file')

export class JsonLinesSource<T> implements Source<T> {
  readonly bounded = true
  readonly name: string
  readonly maxParallelism: number

  constructor(private readonly paths: readonly string[]) {
    if (paths.length === 0) throw new FluxionError('FLX_INVALID_CONFIG', 'readJsonLines: give at least one file path')
    this.name = `json-lines(${paths.join(', ')})`
    this.maxParallelism = paths.length
  }

  createReader(ctx: SourceReaderContext, restoredSplits?: unknown[]): SourceReader<T> {
    const splits = restoredSplits
      ? (restoredSplits as FileSplit[])
      : this.paths.filter((_, i) => i % ctx.parallelism === ctx.subtaskIndex).map((path) => ({ path, line: 0 }))
    return new JsonLinesReader<T>(splits)
  }
}

/** A file and the number of its lines already read. */
interface FileSplit {
  path: string
  line: number
}

class JsonLinesReader<T> implements SourceReader<T> {
  private readonly lines: (string | typeof END_OF_FILE)[] = []
  private head = 0
  private lineNumber = 0
  private fileIndex = -1
  private stream: ReadStream | undefined
  private partial = ''
  private error: Error | undefined
  private notify: (() => void) | undefined

  private readonly paths: readonly string[]

  constructor(private readonly splits: readonly FileSplit[]) {
    this.paths = splits.map((s) => s.path)
  }

  snapshotState(): unknown[] {
    const rest: FileSplit[] = []
    for (let i = Math.max(0, this.fileIndex); i < this.splits.length; i++) {
      rest.push(i === this.fileIndex ? { path: this.splits[i].path, line: this.lineNumber } : { ...this.splits[i] })
    }
    return rest
  }

  private openNext(): void {
    this.fileIndex++
    this.lineNumber = 0
    this.partial = ''
    if (this.fileIndex >= this.paths.length) return
    const path = this.paths[this.fileIndex]
    const stream = createReadStream(path, { encoding: 'utf8', highWaterMark: 256 * 1024 })
    this.stream = stream
    stream.on('data', (chunk) => {
      const parts = (this.partial + (chunk as string)).split('\n')
      this.partial = parts.pop()!
      for (const p of parts) this.lines.push(p)
      if (this.lines.length - this.head > HIGH_WATER_LINES) stream.pause()
      this.wake()
    })
    stream.on('end', () => {
      if (this.partial.length > 0) this.lines.push(this.partial)
      this.partial = ''
      this.lines.push(END_OF_FILE)
      this.wake()
    })
    stream.on('error', (e) => {
      this.error = new FluxionError('FLX_SOURCE_FAILED', `cannot read JSON Lines file ${path}: ${e.message}`, { cause: e, retriable: true })
      this.wake()
    })
  }

  private wake(): void {
    const n = this.notify
    this.notify = undefined
    n?.()
  }

  pollNext(main: ReaderOutput<T>, budget: number): InputStatus {
    if (this.error) throw this.error
    if (this.fileIndex < 0) this.openNext()
    if (this.fileIndex >= this.paths.length) return 'end'
    // Each file is a split with its own watermark generator.
    const output = main.createOutputForSplit?.(this.paths[this.fileIndex]) ?? main
    let emitted = 0
    while (emitted < budget) {
      if (this.head === this.lines.length) {
        if (this.fileIndex >= this.paths.length) return 'end'
        this.lines.length = 0
        this.head = 0
        this.stream?.resume()
        return 'nothing'
      }
      const line = this.lines[this.head++]
      if (line === END_OF_FILE) {
        this.stream = undefined
        main.releaseOutputForSplit?.(this.paths[this.fileIndex])
        this.openNext()
        if (this.fileIndex < this.paths.length) return 'more' // the next file is a new split
        if (this.fileIndex >= this.paths.length) return 'end'
        continue
      }
      this.lineNumber++
      if (this.lineNumber <= this.splits[this.fileIndex].line) continue // read before the restored checkpoint
      const text = line.endsWith('\r') ? line.slice(0, -1) : line
      if (text.trim() === '') continue
      let value: T
      try {
        value = JSON.parse(text) as T
      } catch (e) {
        output.deadLetter({
          source: this.paths[this.fileIndex],
          position: { file: this.paths[this.fileIndex], line: this.lineNumber },
          error: `invalid JSON: ${(e as Error).message}`,
          raw: text,
        })
        continue
      }
      output.collect(value)
      emitted++
    }
    if (this.head > 4096) {
      this.lines.splice(0, this.head)
      this.head = 0
    }
    if (this.lines.length - this.head < HIGH_WATER_LINES / 2) this.stream?.resume()
    return 'more'
  }

  isAvailable(): Promise<void> {
    if (this.error || this.head < this.lines.length) return Promise.resolve()
    return new Promise((resolve) => (this.notify = resolve))
  }

  close(): void {
    this.stream?.destroy()
  }
}

