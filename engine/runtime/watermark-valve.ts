/**
 * Combines the watermarks of a task's input channels (Flink's StatusWatermarkValve): the task's
 * watermark is the minimum over active, aligned channels, and never goes backwards. A channel is
 * aligned while its watermark is at or above the task's watermark; a channel that comes back from
 * idleness behind the task's watermark is left out until it catches up, so it does not stall the
 * others. A channel that has ended counts as watermark +Infinity. When every channel is idle the
 * task is idle.
 */
export class WatermarkValve {
  private readonly watermarks: number[]
  private readonly idle: boolean[]
  private readonly aligned: boolean[]
  private lastEmitted = Number.NEGATIVE_INFINITY
  private allIdle = false

  constructor(
    channelCount: number,
    private readonly onWatermark: (watermark: number) => void,
    private readonly onIdle: (idle: boolean) => void,
  ) {
    this.watermarks = new Array<number>(channelCount).fill(Number.NEGATIVE_INFINITY)
    this.idle = new Array<boolean>(channelCount).fill(false)
    this.aligned = new Array<boolean>(channelCount).fill(true)
  }

  get currentWatermark(): number {
    return this.lastEmitted
  }

  inputWatermark(channel: number, watermark: number): void {
    if (watermark <= this.watermarks[channel]) return
    this.watermarks[channel] = watermark
    if (this.idle[channel]) this.setIdle(channel, false)
    if (!this.aligned[channel] && watermark >= this.lastEmitted) this.aligned[channel] = true
    this.recompute()
  }

  inputIdle(channel: number, idle: boolean): void {
    if (this.idle[channel] === idle) return
    this.setIdle(channel, idle)
    this.recompute()
  }

  /** An ended channel no longer holds back the watermark. */
  inputEnded(channel: number): void {
    this.watermarks[channel] = Number.POSITIVE_INFINITY
    this.aligned[channel] = true
    if (this.idle[channel]) this.setIdle(channel, false)
    this.recompute()
  }

  private setIdle(channel: number, idle: boolean): void {
    this.idle[channel] = idle
    this.aligned[channel] = !idle && this.watermarks[channel] >= this.lastEmitted
    const nowAllIdle = this.idle.every((i) => i)
    if (nowAllIdle && !this.allIdle) {
      // Flink's findAndOutputMaxWatermarkAcrossAllChannels: nothing holds the watermark back now.
      const max = Math.max(...this.watermarks)
      if (max > this.lastEmitted) {
        this.lastEmitted = max
        this.onWatermark(max)
      }
    }
    if (nowAllIdle !== this.allIdle) {
      this.allIdle = nowAllIdle
      this.onIdle(nowAllIdle)
    }
  }

  private recompute(): void {
    let min = Number.POSITIVE_INFINITY
    let any = false
    for (let i = 0; i < this.watermarks.length; i++) {
      if (this.idle[i] || !this.aligned[i]) continue
      any = true
      if (this.watermarks[i] < min) min = this.watermarks[i]
    }
    if (any && min > this.lastEmitted) {
      this.lastEmitted = min
      this.onWatermark(min)
    }
  }
}
