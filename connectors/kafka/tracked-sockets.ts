/**
 * The connections of one kafkajs client tree, so that closing a connector closes every one of them.
 *
 * kafkajs can leave a connection open after `disconnect()`: when a broker goes away mid-run, a
 * consumer group keeps using the Broker object of its coordinator after the cluster dropped it from
 * its pool, and the connection the group's next heartbeat opens through it belongs to no pool that
 * `disconnect()` closes. That connection kept the process alive after its job had finished (seen
 * with a broker restarted under a running job: tests/kafka/exactly-once-e2e.spec.ts). Sockets are made as
 * kafkajs's default socket factory makes them (plain TCP; this connector has no TLS options yet).
 */
import { connect, type Socket } from 'node:net'
import type { ISocketFactory } from 'kafkajs'

/** kafkajs's default keep-alive delay (src/network/socketFactory.js). */
const KEEP_ALIVE_DELAY_MS = 60_000

export class TrackedSockets {
  private readonly open = new Set<Socket>()

  /** Pass as `socketFactory` to `new Kafka(...)`. */
  readonly factory: ISocketFactory = ({ host, port, onConnect }) => {
    const socket = connect({ host, port }, onConnect)
    socket.setKeepAlive(true, KEEP_ALIVE_DELAY_MS)
    this.open.add(socket)
    socket.once('close', () => this.open.delete(socket))
    return socket
  }

  /** Sockets not closed yet. */
  get size(): number {
    return this.open.size
  }

  /**
   * Destroys every socket still open: call after the clients' disconnect(). With an error, so that
   * kafkajs's connection handles it as a connection error and disconnects itself: a plain destroy()
   * leaves the connection's request queue rescheduling its pending-request check forever (kafkajs
   * issue #1704), a timer that keeps the process alive just as the socket did.
   */
  destroyAll(): void {
    for (const s of this.open) s.destroy(new Error('closed by its Fluxion connector after the clients disconnected'))
    this.open.clear()
  }
}
