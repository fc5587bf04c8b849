/**
 * Checkpoint storage on the local filesystem, behind an interface an object store can implement.
 *
 * Layout under the root directory:
 *   chk-<n>/<head-vertex>-<subtask>.state   one subtask's snapshot for checkpoint n
 *   chk-<n>/_metadata                        written last, atomically: checkpoint n is complete
 * Every file is framed (state-file.ts): magic, crc32 of the payload, payload length (u64), payload
 * (v8.serialize'd, in slices for state files). A truncated or corrupt file fails the read with
 * FLX_CHECKPOINT_CORRUPT. State files are serialized in slices of a few milliseconds, so writing a
 * big snapshot does not stall the tasks that share the thread.
 */
import { copyFile, link, mkdir, open, readdir, readFile, rename, rm } from 'node:fs/promises'
import { join, resolve } from 'node:path'
import { FluxionError } from '../errors.ts'
import { frame, unframe, writeStateFile } from './state-file.ts'
import type { CheckpointMetadata } from './types.ts'

export interface CheckpointStorage {
  /** Writes one state file of checkpoint n; returns its handle (a path relative to the root) and size. */
  writeState(checkpointId: number, name: string, value: unknown): Promise<{ handle: string; bytes: number }>
  readState(handle: string): Promise<unknown>
  /**
   * Makes state file `handle` of `source` (another checkpoint root, e.g. a savepoint's) part of
   * checkpoint n here, so that checkpoints never depend on files outside their root; returns its
   * handle here. The handle itself when `source` has the same root.
   */
  adoptState(checkpointId: number, source: CheckpointStorage, handle: string): Promise<string>
  /** Step 5: write, fsync, rename — only then is the checkpoint complete. */
  writeMetadata(metadata: CheckpointMetadata): Promise<void>
  readMetadata(checkpointId: number): Promise<CheckpointMetadata>
  /** Ids of checkpoints with a metadata file, newest first. */
  listComplete(): Promise<number[]>
  /** The highest id of any checkpoint here, complete or not (0 when there is none): new ids must be above it. */
  highestId(): Promise<number>
  /**
   * Deletes the checkpoints older than the newest in `keep` that are not in it: their directories,
   * or only their metadata when a kept checkpoint still uses some of their files.
   */
  retain(keep: readonly CheckpointMetadata[]): Promise<void>
}

async function writeDurably(path: string, bytes: Uint8Array): Promise<void> {
  const tmp = `${path}.tmp`
  const handle = await open(tmp, 'w')
  try {
    await handle.writeFile(bytes)
    await handle.sync()
  } finally {
    await handle.close()
  }
  await rename(tmp, path)
}

export class LocalCheckpointStorage implements CheckpointStorage {
  constructor(readonly root: string) {}

  private dirOf(checkpointId: number): string {
    return `chk-${checkpointId}`
  }

  async writeState(checkpointId: number, name: string, value: unknown): Promise<{ handle: string; bytes: number }> {
    const dir = this.dirOf(checkpointId)
    await mkdir(join(this.root, dir), { recursive: true })
    const handle = `${dir}/${name}.state`
    const bytes = await writeStateFile(join(this.root, handle), value)
    return { handle, bytes }
  }

  async readState(handle: string): Promise<unknown> {
    let bytes: Buffer
    try {
      bytes = await readFile(join(this.root, handle))
    } catch (e) {
      throw new FluxionError('FLX_CHECKPOINT_CORRUPT', `checkpoint state file ${handle} is missing or unreadable: ${(e as Error).message}`, { cause: e })
    }
    return unframe(bytes, join(this.root, handle))
  }

  async adoptState(checkpointId: number, source: CheckpointStorage, handle: string): Promise<string> {
    if (source instanceof LocalCheckpointStorage && resolve(source.root) === resolve(this.root)) return handle
    const dir = this.dirOf(checkpointId)
    const adopted = `${dir}/restored-${handle.replace(/[/\\]/g, '-')}`
    const to = join(this.root, adopted)
    await mkdir(join(this.root, dir), { recursive: true })
    if (!(source instanceof LocalCheckpointStorage)) {
      await writeDurably(to, frame(await source.readState(handle)))
      return adopted
    }
    const from = join(source.root, handle)
    await rm(to, { force: true })
    try {
      await link(from, to) // the same bytes, no copy; the savepoint may be deleted later
    } catch {
      await copyFile(from, to) // another filesystem
      const copied = await open(to, 'r+')
      try {
        await copied.sync()
      } finally {
        await copied.close()
      }
    }
    return adopted
  }

  async writeMetadata(metadata: CheckpointMetadata): Promise<void> {
    const dir = join(this.root, this.dirOf(metadata.checkpointId))
    await mkdir(dir, { recursive: true })
    await writeDurably(join(dir, '_metadata'), frame(metadata))
    // Make the rename itself durable.
    const d = await open(dir, 'r')
    try {
      await d.sync()
    } finally {
      await d.close()
    }
  }

  async readMetadata(checkpointId: number): Promise<CheckpointMetadata> {
    const path = join(this.root, this.dirOf(checkpointId), '_metadata')
    let bytes: Buffer
    try {
      bytes = await readFile(path)
    } catch (e) {
      throw new FluxionError('FLX_CHECKPOINT_NOT_FOUND', `no complete checkpoint ${checkpointId} under ${this.root} (${(e as Error).message})`, { cause: e })
    }
    const meta = unframe(bytes, path) as CheckpointMetadata
    if (meta?.version !== 1 || meta.checkpointId !== checkpointId) {
      throw new FluxionError('FLX_CHECKPOINT_CORRUPT', `checkpoint metadata ${path} is not a Fluxion checkpoint ${checkpointId}`)
    }
    return meta
  }

  async listComplete(): Promise<number[]> {
    let entries: string[]
    try {
      entries = await readdir(this.root)
    } catch {
      return []
    }
    const ids: number[] = []
    for (const e of entries) {
      const m = /^chk-(\d+)$/.exec(e)
      if (!m) continue
      try {
        await readFile(join(this.root, e, '_metadata'), { flag: 'r' })
        ids.push(Number(m[1]))
      } catch {
        // no metadata: incomplete checkpoint
      }
    }
    return ids.sort((a, b) => b - a)
  }

  async highestId(): Promise<number> {
    let entries: string[]
    try {
      entries = await readdir(this.root)
    } catch {
      return 0
    }
    let highest = 0
    for (const e of entries) {
      const m = /^chk-(\d+)$/.exec(e)
      if (m) highest = Math.max(highest, Number(m[1]))
    }
    return highest
  }

  async retain(keep: readonly CheckpointMetadata[]): Promise<void> {
    const kept = new Set(keep.map((meta) => this.dirOf(meta.checkpointId)))
    const referenced = new Set<string>()
    for (const meta of keep) {
      for (const task of Object.values(meta.tasks)) for (const s of task.subtasks) for (const f of s.files) referenced.add(f.split('/')[0])
    }
    const newest = Math.max(-1, ...keep.map((m) => m.checkpointId))
    let entries: string[]
    try {
      entries = await readdir(this.root)
    } catch {
      return
    }
    for (const e of entries) {
      const m = /^chk-(\d+)$/.exec(e)
      // Keep the kept checkpoints, and anything newer than the newest kept (in progress).
      if (!m || kept.has(e) || Number(m[1]) > newest) continue
      // A checkpoint no longer kept whose files a kept one still uses (a compacted base, a restored
      // file): keep the files, but it is no longer a complete checkpoint (the files its metadata
      // lists elsewhere may be gone), so it is neither listed nor restored as one.
      if (referenced.has(e)) await rm(join(this.root, e, '_metadata'), { force: true })
      else await rm(join(this.root, e), { recursive: true, force: true })
    }
  }
}
