/**
 * Exactly-once JSON Lines files (two-phase commit): each subtask writes the records of one
 * checkpoint epoch to a hidden temporary file; `prepareCommit` closes it, and the committer renames
 * it to its final name when the checkpoint completes. Readers only ever see committed files:
 *   <dir>/part-<subtask>-<run>-<epoch>.jsonl      committed output
 *   <dir>/.in-progress/…                          written, not yet committed
 * After a restart, files of the restored checkpoint are committed (rename is idempotent) and
 * every other in-progress file is deleted, so nothing is lost or duplicated.
 */
import { closeSync, existsSync, fsyncSync, mkdirSync, openSync, readdirSync, renameSync, rmSync, writeSync } from 'node:fs'
import { join } from 'node:path'
import { randomUUID } from 'node:crypto'
import type { Committer, PrecommittingSinkWriter, SinkWriterContext, TwoPhaseCommitSink } from '../operators/sink.ts'

export interface FileCommittable {
  /** In-progress file, relative to the sink's directory. */
  temp: string
  /** Committed file name, relative to the sink's directory. */
  final: string
}

const IN_PROGRESS = '.in-progress'

export class TransactionalJsonLinesSink<T> implements TwoPhaseCommitSink<T, FileCommittable> {
  readonly twoPhaseCommit = true
  readonly name: string
  /** Distinguishes the files of each (re)start, so a restarted job never reuses a name. */
  private readonly run = randomUUID().slice(0, 8)

  constructor(readonly dir: string) {
    this.name = `transactional-json-lines(${dir})`
  }

  createWriter(ctx: SinkWriterContext): PrecommittingSinkWriter<T, FileCommittable> {
    const dir = this.dir
    mkdirSync(join(dir, IN_PROGRESS), { recursive: true })
    const prefix = `part-${ctx.subtaskIndex}-${this.run}`
    let fd: number | undefined
    let temp = ''
    let buffer: string[] = []
    const flushBuffer = () => {
      if (buffer.length === 0) return
      if (fd === undefined) {
        temp = join(IN_PROGRESS, `${prefix}-${randomUUID().slice(0, 8)}.jsonl`)
        fd = openSync(join(dir, temp), 'w')
      }
      writeSync(fd, buffer.join(''))
      buffer = []
    }
    return {
      write(value) {
        buffer.push(JSON.stringify(value) + '\n')
        if (buffer.length >= 1024) flushBuffer()
      },
      flush: flushBuffer,
      prepareCommit(epoch) {
        flushBuffer()
        if (fd === undefined) return []
        fsyncSync(fd)
        closeSync(fd)
        fd = undefined
        // The name is decided here and travels in the committable, so commits stay idempotent.
        return [{ temp, final: `${prefix}-${String(epoch).padStart(6, '0')}-${randomUUID().slice(0, 8)}.jsonl` }]
      },
      close() {
        if (fd !== undefined) closeSync(fd)
        fd = undefined
      },
    }
  }

  createCommitter(): Committer<FileCommittable> {
    const dir = this.dir
    return {
      commit(committables) {
        for (const c of committables) {
          const from = join(dir, c.temp)
          if (existsSync(from)) renameSync(from, join(dir, c.final))
          // else: committed before (a commit repeated after a restart)
        }
      },
      abortUncommitted(committed) {
        const keep = new Set(committed.map((c) => c.temp))
        const inProgress = join(dir, IN_PROGRESS)
        if (!existsSync(inProgress)) return
        for (const f of readdirSync(inProgress)) {
          const rel = join(IN_PROGRESS, f)
          if (!keep.has(rel)) rmSync(join(dir, rel), { force: true })
        }
      },
    }
  }
}
