/**
 * Restart strategies (Flink's): after a failure, how long to wait before restarting the job from
 * its latest complete checkpoint, or whether to give up. Configuration errors and cancellation
 * never restart.
 */
import { FluxionError } from '../errors.ts'

export type RestartStrategyConfig =
  | { type: 'none' }
  | { type: 'fixed-delay'; attempts: number; delayMs: number }
  | { type: 'exponential-backoff'; initialDelayMs: number; maxDelayMs: number; multiplier?: number; maxAttempts?: number; resetAfterMs?: number }
  | { type: 'failure-rate'; maxFailures: number; intervalMs: number; delayMs: number }

export interface RestartStrategy {
  /** Records a failure at `now`; returns the delay before restarting, or undefined to give up. */
  onFailure(error: unknown, now: number): number | undefined
}

export function validateRestartStrategy(config: RestartStrategyConfig | undefined): void {
  if (config === undefined) return
  const bad = (why: string) => new FluxionError('FLX_INVALID_CONFIG', `restartStrategy ${JSON.stringify(config)}: ${why}`)
  const nonNegative = (n: unknown) => typeof n === 'number' && Number.isFinite(n) && n >= 0
  switch (config.type) {
    case 'none':
      return
    case 'fixed-delay':
      if (!Number.isInteger(config.attempts) || config.attempts < 0) throw bad('attempts must be an integer >= 0')
      if (!nonNegative(config.delayMs)) throw bad('delayMs must be a number >= 0')
      return
    case 'exponential-backoff':
      if (!nonNegative(config.initialDelayMs) || !nonNegative(config.maxDelayMs) || config.maxDelayMs < config.initialDelayMs) {
        throw bad('needs 0 <= initialDelayMs <= maxDelayMs')
      }
      if (config.multiplier !== undefined && !(config.multiplier >= 1)) throw bad('multiplier must be >= 1')
      return
    case 'failure-rate':
      if (!Number.isInteger(config.maxFailures) || config.maxFailures < 1) throw bad('maxFailures must be an integer >= 1')
      if (!(config.intervalMs > 0) || !nonNegative(config.delayMs)) throw bad('intervalMs must be > 0 and delayMs >= 0')
      return
    default:
      throw bad("type must be 'none', 'fixed-delay', 'exponential-backoff' or 'failure-rate'")
  }
}

function restartable(error: unknown): boolean {
  if (!(error instanceof FluxionError)) return true
  return error.domain !== 'config' && error.code !== 'FLX_JOB_CANCELLED'
}

export function createRestartStrategy(config: RestartStrategyConfig = { type: 'none' }): RestartStrategy {
  switch (config.type) {
    case 'none':
      return { onFailure: () => undefined }
    case 'fixed-delay': {
      let restarts = 0
      return { onFailure: (e) => (restartable(e) && restarts++ < config.attempts ? config.delayMs : undefined) }
    }
    case 'exponential-backoff': {
      let delay = config.initialDelayMs
      let attempts = 0
      let lastFailure = Number.NEGATIVE_INFINITY
      return {
        onFailure(e, now) {
          if (!restartable(e)) return undefined
          if (now - lastFailure >= (config.resetAfterMs ?? Number.POSITIVE_INFINITY)) {
            delay = config.initialDelayMs
            attempts = 0
          }
          lastFailure = now
          if (config.maxAttempts !== undefined && attempts >= config.maxAttempts) return undefined
          attempts++
          const current = delay
          delay = Math.min(config.maxDelayMs, delay * (config.multiplier ?? 2))
          return current
        },
      }
    }
    case 'failure-rate': {
      const failures: number[] = []
      return {
        onFailure(e, now) {
          if (!restartable(e)) return undefined
          failures.push(now)
          while (failures.length > 0 && failures[0] <= now - config.intervalMs) failures.shift()
          return failures.length <= config.maxFailures ? config.delayMs : undefined
        },
      }
    }
  }
}
