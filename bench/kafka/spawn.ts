/**
 * Starts bench/kafka/child.ts in a fresh Node process: once to completion (a throughput run), or
 * live until the caller stops it (the latency phase). The peak RSS of a live child is read from
 * /proc/<pid>/status (VmHWM) while it runs.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { readHwmMb } from '../rss.ts'
import { READY_LINE, RESULT_PREFIX, type ChildResult } from './child.ts'

export const REPO_ROOT = fileURLToPath(new URL('../..', import.meta.url))
const CHILD = join(REPO_ROOT, 'bench', 'kafka', 'child.ts')

/** Runs the child to completion and returns its result line; rejects with its stderr tail on failure. */
export function runChild(args: string[], nodeFlags: string[] = []): Promise<ChildResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [...nodeFlags, '--import', 'tsx', CHILD, ...args], { cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'pipe'] })
    let stdout = ''
    let stderr = ''
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d))
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d))
    const timeout = setTimeout(() => child.kill('SIGKILL'), 20 * 60_000)
    child.on('error', reject)
    child.on('close', (code, signal) => {
      clearTimeout(timeout)
      const line = stdout.split('\n').find((l) => l.startsWith(RESULT_PREFIX))
      if (code !== 0 || line === undefined) {
        reject(new Error(`bench/kafka/child.ts ${args.join(' ')} exited with ${signal ?? code}:\n${stderr.trim().split('\n').slice(-20).join('\n')}`))
        return
      }
      resolve(JSON.parse(line.slice(RESULT_PREFIX.length)) as ChildResult)
    })
  })
}

export interface LiveChild {
  /** Resolves when the job has started (the child printed its ready line). */
  ready: Promise<void>
  /** Highest VmHWM seen so far, MB. */
  peakRssMb(): number
  /** Stops the child (SIGTERM, then SIGKILL after 5 s) and resolves when it is gone. */
  stop(): Promise<void>
  /** Rejects if the child exits before stop() was called. */
  failed: Promise<never>
}

export function startLiveChild(args: string[]): LiveChild {
  const child: ChildProcess = spawn(process.execPath, ['--import', 'tsx', CHILD, ...args, '--live'], { cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'pipe'] })
  let peak = 0
  const poll = setInterval(() => {
    const mb = readHwmMb(child.pid!)
    if (mb > peak) peak = mb
  }, 50)
  let stopping = false
  let stderr = ''
  child.stderr!.setEncoding('utf8').on('data', (d: string) => (stderr += d))
  const ready = new Promise<void>((resolve) => {
    let out = ''
    child.stdout!.setEncoding('utf8').on('data', (d: string) => {
      out += d
      if (out.includes(READY_LINE)) resolve()
    })
  })
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)))
  const failed = exited.then((code): never => {
    clearInterval(poll)
    throw new Error(`live child exited (${code}) before it was stopped:\n${stderr.trim().split('\n').slice(-20).join('\n')}`)
  })
  failed.catch(() => {})
  return {
    ready,
    peakRssMb: () => peak,
    failed: failed.then(
      (x) => x,
      (e: unknown) => {
        if (stopping) return new Promise<never>(() => {})
        throw e
      },
    ),
    async stop() {
      stopping = true
      clearInterval(poll)
      child.kill('SIGTERM')
      const killer = setTimeout(() => child.kill('SIGKILL'), 5000)
      await exited
      clearTimeout(killer)
    },
  }
}
