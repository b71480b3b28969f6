import { readFileSync } from 'node:fs'
import { createServer } from 'node:net'
import type { Server } from 'node:net'
import { FreePortError } from './errors.js'

/** Where free ports are picked when the kernel's ephemeral range cannot be read (Linux's default starts at 32768). */
const FALLBACK_EPHEMERAL_LOW = 32768
const LOWEST_PICKED_PORT = 20000
const PICK_ATTEMPTS = 200

/**
 * The lowest port of the kernel's ephemeral range. Ports are picked below it: a port the kernel handed out with
 * `listen(0)` and that was then closed is soon handed out again as the source port of some outgoing connection
 * (every libp2p dial, every RPC call of a parallel test), and the process meant to listen on it then fails with
 * EADDRINUSE. Outgoing connections never take a port below the range.
 */
function ephemeralLow(): number {
  try {
    const low = Number.parseInt(
      readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)[0] ?? '',
      10
    )
    return Number.isSafeInteger(low) && low > LOWEST_PICKED_PORT + 1000 ? low : FALLBACK_EPHEMERAL_LOW
  } catch {
    return FALLBACK_EPHEMERAL_LOW
  }
}

async function listenOn(port: number): Promise<Server | undefined> {
  return await new Promise((resolve) => {
    const server = createServer()
    server.unref()
    server.once('error', () => {
      resolve(undefined)
    })
    server.listen({ port, host: '127.0.0.1', exclusive: true }, () => {
      resolve(server)
    })
  })
}

/**
 * `count` distinct TCP ports on 127.0.0.1 that were free a moment ago (all held until all are picked, so none
 * repeats), picked at random below the ephemeral range. Ports are picked before the processes start, not with
 * port 0, so that a restarted provider comes back on the addresses clients already know.
 */
export async function freePorts(count: number): Promise<number[]> {
  const high = ephemeralLow() - 1
  const held: Server[] = []
  const ports: number[] = []
  try {
    for (let attempt = 0; ports.length < count && attempt < PICK_ATTEMPTS * count; attempt++) {
      const port = LOWEST_PICKED_PORT + Math.floor(Math.random() * (high - LOWEST_PICKED_PORT + 1))
      if (ports.includes(port)) continue
      const server = await listenOn(port)
      if (server === undefined) continue
      held.push(server)
      ports.push(port)
    }
    if (ports.length < count)
      throw new FreePortError(
        `found only ${ports.length} of ${count} free TCP ports on 127.0.0.1 between ${LOWEST_PICKED_PORT} and ${high}: free some ports or stop other devnets`
      )
    return ports
  } finally {
    await Promise.all(held.map(async (s) => await new Promise((resolve) => s.close(resolve))))
  }
}
