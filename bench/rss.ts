/**
 * Memory and clock helpers shared by benchmark children and runners.
 */
import { readFileSync } from 'node:fs'

const MB = 1024 * 1024

/**
 * Peak RSS of this process: `process.memoryUsage.rss()` sampled every 50 ms from construction to
 * `stop()` (the engine yields to the event loop every few ms, so the sampler runs during a job).
 */
export class RssSampler {
  private readonly startRss = process.memoryUsage.rss()
  private peak = this.startRss
  private readonly timer = setInterval(() => this.sample(), 50)

  private sample(): void {
    const rss = process.memoryUsage.rss()
    if (rss > this.peak) this.peak = rss
  }

  /** Stops sampling. peakRssMb: sampled peak; maxRssMb: the kernel's high-water mark (start-up included); startRssMb: at construction. */
  stop(): { peakRssMb: number; maxRssMb: number; startRssMb: number } {
    clearInterval(this.timer)
    this.sample()
    const r1 = (x: number): number => Math.round(x * 10) / 10
    return { peakRssMb: r1(this.peak / MB), maxRssMb: r1(process.resourceUsage().maxRSS / 1024), startRssMb: r1(this.startRss / MB) }
  }
}

/** High-water RSS of a live process, MB (VmHWM from /proc/<pid>/status), or NaN once it is gone. */
export function readHwmMb(pid: number): number {
  try {
    const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))
    return m ? Number(m[1]) / 1024 : Number.NaN
  } catch {
    return Number.NaN
  }
}

/** process.hrtime in µs: the clock V8 stamps CPU profile samples with. */
export function hrtimeUs(): number {
  return Number(process.hrtime.bigint() / 1000n)
}
