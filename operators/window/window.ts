/**
 * Windows are plain, serialisable objects: `start` inclusive, `end` exclusive, epoch ms.
 * The global window spans (-Infinity, +Infinity).
 */
export interface TimeWindow {
  readonly start: number
  readonly end: number
}

/** The largest timestamp that still belongs to the window (end − 1), as in Flink. */
export function maxTimestamp(w: TimeWindow): number {
  return w.end - 1
}

export function intersects(a: TimeWindow, b: TimeWindow): boolean {
  return a.start <= b.end && a.end >= b.start
}

export function cover(a: TimeWindow, b: TimeWindow): TimeWindow {
  return { start: Math.min(a.start, b.start), end: Math.max(a.end, b.end) }
}

export function sameWindow(a: TimeWindow, b: TimeWindow): boolean {
  return a.start === b.start && a.end === b.end
}

export const GLOBAL_WINDOW: TimeWindow = Object.freeze({ start: Number.NEGATIVE_INFINITY, end: Number.POSITIVE_INFINITY })

/**
 * Flink's TimeWindow.getWindowStartWithOffset (JavaScript % has Java's sign rules).
 *
 * For integer operands below 2^53 (epoch milliseconds), the floor of the quotient gives the same
 * start without `%`: V8 turns `%` on numbers outside the int32 range (every epoch timestamp) into a
 * call to C's fmod, which costs more than the rest of the window assignment.
 */
export function windowStart(timestamp: number, offset: number, size: number): number {
  const shifted = timestamp - offset
  if (Number.isSafeInteger(shifted) && Number.isSafeInteger(size)) {
    // floor(shifted / size) is exact here: the quotient is at least 1/size away from the next integer.
    return timestamp - (shifted - Math.floor(shifted / size) * size)
  }
  const remainder = shifted % size
  return remainder < 0 ? timestamp - (remainder + size) : timestamp - remainder
}
