import { createServer, type Socket } from 'node:net'
import { once } from 'node:events'
import { describe, expect, it } from 'vitest'
import { TrackedSockets } from './tracked-sockets.ts'

describe('TrackedSockets', () => {
  it('forgets sockets that closed, and destroys the rest with an error their owner sees', async () => {
    const accepted: Socket[] = []
    const server = createServer((s) => accepted.push(s))
    server.listen(0, '127.0.0.1')
    await once(server, 'listening')
    const port = (server.address() as { port: number }).port
    try {
      const sockets = new TrackedSockets()
      const connectOne = async () => {
        let connected!: () => void
        const ready = new Promise<void>((r) => (connected = r))
        const s = sockets.factory({ host: '127.0.0.1', port, ssl: {}, onConnect: () => connected() })
        await ready
        return s
      }
      const a = await connectOne()
      const b = await connectOne()
      expect(sockets.size).toBe(2)
      a.end()
      await once(a, 'close')
      expect(sockets.size).toBe(1)
      // As kafkajs's connection does: an 'error' listener, which disconnects the connection.
      const errors: string[] = []
      b.on('error', (e) => errors.push(e.message))
      const closed = new Promise<void>((r) => b.once('close', () => r()))
      sockets.destroyAll()
      await closed
      expect(b.destroyed).toBe(true)
      expect(errors).toEqual(['closed by its Fluxion connector after the clients disconnected'])
      expect(sockets.size).toBe(0)
    } finally {
      for (const s of accepted) s.destroy()
      server.close()
    }
  })
})
