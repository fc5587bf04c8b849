/**
 * The line protocol between bench/pipeline.ts (one run, in a child process) and bench/run.ts.
 */

export const RESULT_PREFIX = 'BENCH_RESULT '

/** What one run reports (bench/README.md explains every field). */
export interface RunResult {
  name: string
  events: number
  sinkRecords: number
  elapsedMs: number
  eventsPerSecond: number
  /** CPU time (user + system) of this process during the job. */
  cpuMs: number
  /** events / CPU seconds: less sensitive than eventsPerSecond to other processes on a shared machine. */
  eventsPerCpuSecond: number
  /** The 1-minute load average of the machine when the run started (2 cores: above 2 means contention). */
  loadAvg1: number
  p50Ms: number
  p99Ms: number
  maxLatencyMs: number
  latencySamples: number
  latencyDefinition: string
  peakRssMb: number
  maxRssMb: number
  startRssMb: number
  finalHeapUsedMb: number
  finalHeapTotalMb: number
  parallelism: number
  batchSize: number
  node: string
  /** The job's start and end on the clock of V8's CPU profiles (process.hrtime in µs), to cut a profile to the job. */
  jobStartUs: number
  jobEndUs: number
}
