/**
 * Exactly-once across process crashes: the job runs as a separate process writing transactional
 * files; it is killed with SIGKILL at random moments and restarted from its latest checkpoint,
 * several times. The committed files must hold exactly the output of a run without failures.
 */
import { spawn } from 'node:child_process'
import { existsSync, mkdtempSync, readdirSync, readFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { describe, expect, it } from 'vitest'
import { StreamExecutionEnvironment } from '../../index.ts'
import { pipeline, source } from './fixtures/exactly-once-job.ts'

const ROOT = resolve(import.meta.dirname, '../..')
const JOB = 'tests/checkpoint/fixtures/exactly-once-job.ts'

/** Whether `chk` holds a complete checkpoint newer than `than`. */
function newCheckpoint(chk: string, than: number): boolean {
  return readdirSync(chk).some((d) => /^chk-\d+$/.test(d) && Number(d.slice(4)) > than && existsSync(join(chk, d, '_metadata')))
}

function newestCheckpoint(chk: string): number {
  return Math.max(0, ...readdirSync(chk).flatMap((d) => (/^chk-\d+$/.test(d) && existsSync(join(chk, d, '_metadata')) ? [Number(d.slice(4))] : [])))
}

/**
 * Starts the job; resolves with its exit code or signal. With `killAfterMs`, kills it that long
 * after it completed a checkpoint of its own (start-up time varies a lot on a loaded machine).
 */
function runJob(out: string, chk: string, killAfterMs?: number): Promise<{ code: number | null; signal: string | null; stderr: string }> {
  return new Promise((done) => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'topologies/run.ts', JOB, '--out', out, '--chk', chk, '--restore', 'latest'], {
      cwd: ROOT,
      stdio: ['ignore', 'ignore', 'pipe'],
    })
    let stderr = ''
    child.stderr.on('data', (d) => (stderr += String(d)))
    const before = newestCheckpoint(chk)
    let timer: NodeJS.Timeout | undefined
    const poll =
      killAfterMs === undefined
        ? undefined
        : setInterval(() => {
            if (timer !== undefined || !newCheckpoint(chk, before)) return
            timer = setTimeout(() => child.kill('SIGKILL'), killAfterMs)
          }, 5)
    child.on('exit', (code, signal) => {
      clearInterval(poll)
      clearTimeout(timer)
      done({ code, signal, stderr })
    })
  })
}

function committedRows(dir: string): string[] {
  return readdirSync(dir)
    .filter((f) => f.endsWith('.jsonl'))
    .flatMap((f) => readFileSync(join(dir, f), 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as string))
}

describe('exactly-once with SIGKILL', () => {
  it('committed output equals a clean run after several kills and restarts', async () => {
    const env = StreamExecutionEnvironment.create({ parallelism: 2 })
    const [expected] = await env.executeAndCollect(pipeline(source(env)))
    const out = mkdtempSync(join(tmpdir(), 'fluxion-kill-out-'))
    const chk = mkdtempSync(join(tmpdir(), 'fluxion-kill-chk-'))
    let kills = 0
    let restores = 0
    // Kill at random moments after a run's first checkpoint (the job runs ~2 s at 3k events/s).
    for (let i = 0; i < 4; i++) {
      const r = await runJob(out, chk, Math.floor(Math.random() * 800))
      if (/restoring from checkpoint/.test(r.stderr)) restores++
      if (r.signal === 'SIGKILL') kills++
      else expect(r.code, r.stderr).toBe(0)
    }
    const last = await runJob(out, chk)
    expect(last.code, last.stderr).toBe(0)
    if (/restoring from checkpoint/.test(last.stderr)) restores++
    expect(kills).toBeGreaterThan(0)
    expect(restores, 'some run must have resumed from a checkpoint of a killed one').toBeGreaterThan(0)
    expect(committedRows(out).sort()).toEqual([...expected].sort())
    // Nothing uncommitted is left behind.
    expect(readdirSync(join(out, '.in-progress'))).toEqual([])
  }, 120_000)
})
