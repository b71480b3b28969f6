import { createServer } from 'node:net'
import type { Server } from 'node:net'

async function listenAnywhere (): Promise<Server> {
  return await new Promise((resolve, reject) => {
    const server = createServer()
    server.unref()
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => { resolve(server) })
  })
}

/**
 * `count` distinct TCP ports on 127.0.0.1 that were free a moment ago (all held until all are picked, so none
 * repeats). Ports are picked before the processes start, not with port 0, so that a restarted provider comes back on
 * the addresses clients already know.
 */
export async function freePorts (count: number): Promise<number[]> {
  const servers = await Promise.all(Array.from({ length: count }, listenAnywhere))
  const ports = servers.map((s) => {
    const address = s.address()
    return typeof address === 'object' && address !== null ? address.port : 0
  })
  await Promise.all(servers.map(async (s) => await new Promise((resolve) => s.close(resolve))))
  return ports
}
