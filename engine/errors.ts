/**
 * The one error type of Fluxion. Every error the engine raises is a FluxionError with a stable
 * `code`; docs/errors.md lists each code with what causes it and how to fix it.
 */

/** Stable error codes. Never rename one: users match on them. */
export type FluxionErrorCode =
  | 'FLX_INVALID_CONFIG'
  | 'FLX_INVALID_TOPOLOGY'
  | 'FLX_WINDOW_WITHOUT_KEYBY'
  | 'FLX_INVALID_WINDOW'
  | 'FLX_PARALLELISM_TOO_HIGH'
  | 'FLX_UNKNOWN_SIDE_OUTPUT'
  | 'FLX_USER_FUNCTION_FAILED'
  | 'FLX_MISSING_TIMESTAMP'
  | 'FLX_TIMERS_NOT_KEYED'
  | 'FLX_STATE_NOT_KEYED'
  | 'FLX_UNSUPPORTED_KEY'
  | 'FLX_BAD_RECORD'
  | 'FLX_SOURCE_FAILED'
  | 'FLX_SCHEMA_REGISTRY_UNAVAILABLE'
  | 'FLX_NO_COMMITTED_OFFSET'
  | 'FLX_SINK_FAILED'
  | 'FLX_KAFKA_PRODUCER_FENCED'
  | 'FLX_JOB_CANCELLED'
  | 'FLX_CHECKPOINT_CORRUPT'
  | 'FLX_CHECKPOINT_NOT_FOUND'
  | 'FLX_CHECKPOINT_FAILED'
  | 'FLX_STATE_INCOMPATIBLE'
  | 'FLX_INTERNAL'

/** Who is at fault: the job's code or config, something outside the engine, or the engine itself. */
export type ErrorDomain = 'user' | 'config' | 'external' | 'internal'

export interface FluxionErrorOptions {
  domain?: ErrorDomain
  retriable?: boolean
  /** Name of the operator in which the error happened. */
  operator?: string
  /** Key of the record being processed, when the operator is keyed. */
  key?: unknown
  cause?: unknown
}

const DEFAULT_DOMAIN: Record<FluxionErrorCode, ErrorDomain> = {
  FLX_INVALID_CONFIG: 'config',
  FLX_INVALID_TOPOLOGY: 'config',
  FLX_WINDOW_WITHOUT_KEYBY: 'config',
  FLX_INVALID_WINDOW: 'config',
  FLX_PARALLELISM_TOO_HIGH: 'config',
  FLX_UNKNOWN_SIDE_OUTPUT: 'config',
  FLX_USER_FUNCTION_FAILED: 'user',
  FLX_MISSING_TIMESTAMP: 'user',
  FLX_TIMERS_NOT_KEYED: 'user',
  FLX_STATE_NOT_KEYED: 'user',
  FLX_UNSUPPORTED_KEY: 'user',
  FLX_BAD_RECORD: 'user',
  FLX_SOURCE_FAILED: 'external',
  FLX_SCHEMA_REGISTRY_UNAVAILABLE: 'external',
  FLX_NO_COMMITTED_OFFSET: 'config',
  FLX_SINK_FAILED: 'external',
  FLX_KAFKA_PRODUCER_FENCED: 'config',
  FLX_JOB_CANCELLED: 'user',
  FLX_CHECKPOINT_CORRUPT: 'external',
  FLX_CHECKPOINT_NOT_FOUND: 'config',
  FLX_CHECKPOINT_FAILED: 'external',
  FLX_STATE_INCOMPATIBLE: 'config',
  FLX_INTERNAL: 'internal',
}

export class FluxionError extends Error {
  readonly code: FluxionErrorCode
  readonly domain: ErrorDomain
  readonly retriable: boolean
  readonly operator?: string
  readonly key?: unknown

  constructor(code: FluxionErrorCode, message: string, options: FluxionErrorOptions = {}) {
    super(`${code}: ${message}`, options.cause === undefined ? undefined : { cause: options.cause })
    this.name = 'FluxionError'
    this.code = code
    this.domain = options.domain ?? DEFAULT_DOMAIN[code]
    this.retriable = options.retriable ?? false
    this.operator = options.operator
    this.key = options.key
  }
}

/** Describes a key for an error message without ever throwing. */
export function describeKey(key: unknown): string {
  try {
    return typeof key === 'string' ? JSON.stringify(key) : typeof key === 'bigint' ? `${key}n` : JSON.stringify(key) ?? String(key)
  } catch {
    return String(key)
  }
}

/**
 * Wraps an exception thrown by a user function so that the job fails with the operator's name,
 * the record's key (when keyed) and the original error as `cause`.
 */
export function userFunctionFailed(operator: string, cause: unknown, key?: unknown, hasKey = false): FluxionError {
  // Engine errors raised inside a user function (misuse of timers, state, side outputs) and
  // already-wrapped failures keep their own code.
  if (cause instanceof FluxionError) return cause
  const reason = cause instanceof Error ? cause.message : String(cause)
  const where = hasKey ? ` while processing key ${describeKey(key)}` : ''
  return new FluxionError(
    'FLX_USER_FUNCTION_FAILED',
    `operator "${operator}" threw${where}: ${reason}. Fix the user function, or catch the error and send the record to a side output.`,
    { operator, key: hasKey ? key : undefined, cause },
  )
}
