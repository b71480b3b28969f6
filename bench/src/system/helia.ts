/**
 * The system suite's peer comparison: IPFS in JavaScript (Helia, unixfs over bitswap) moving the same number of
 * bytes between processes on the same machine and the same libp2p stack as Sherd. One adder process adds a file;
 * reader processes, each connected to the adder only, fetch it, one alone (a get) or three at once (placing three
 * copies, Helia's nearest thing to a put that leaves the file on other machines). Every node is a process of its
 * own (helia-peer.ts) with a disk blockstore in one temporary directory that `stop` removes.
 *
 * Each round starts from empty blockstores with new pseudo-random content (`prepare`, untimed), so nothing is
 * served from an earlier round's blocks and every read is checked byte for byte (length and SHA-256) against
 * what was added.
 */
import { spawn } from 'node:child_process'
import type { ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import { mkdir, mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import type { HeliaPeerArgs, HeliaReply, HeliaRequest, HeliaRole } from './helia-peer.js'

/** Readers the suite needs: one for the single get, three for the three-peer fetch. */
export const HELIA_READERS = 4
/** Time for a peer process to start its node and print its address (loaded machine: generous). */
const PEER_START_TIMEOUT_MS = 60_000
/** A request may take this long plus 1 ms per kB moved (1 MB/s, far below anything seen) before it is an error. */
const REQUEST_BASE_TIMEOUT_MS = 120_000
/** Time for a peer to stop its node after stdin closes before it is killed. */
const PEER_STOP_TIMEOUT_MS = 15_000

/** What one timed operation cost: wall time is the caller's; CPU time is the Helia processes'. */
export interface HeliaCost {
  /** CPU time of the node(s) doing the operation: the adder for an add, the reader(s) for a fetch. */
  cpuMs: number
  /** CPU time the adder spent serving during a fetch (0 for an add). */
  servingCpuMs: number
}

export interface HeliaSwarm {
  readonly readers: number
  /** Empties every node's blockstore and makes `bytes` new bytes the next `add` adds. Untimed setup. */
  prepare: (bytes: number) => Promise<void>
  /** The adder adds the prepared bytes with unixfs. */
  add: () => Promise<HeliaCost>
  /** The given readers (indexes) fetch the last added file at once; each read is checked against what was added. */
  fetch: (readers: readonly number[]) => Promise<HeliaCost>
  /** Stops every node and removes their directories. */
  stop: () => Promise<void>
}

interface Peer {
  role: HeliaRole
  child: ChildProcess
  multiaddr: string
  peerId: string
  request: (op: DistributiveOmit<HeliaRequest, 'id'>, timeoutMs: number) => Promise<HeliaReply>
}

type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never

function requestTimeout(bytes: number): number {
  return REQUEST_BASE_TIMEOUT_MS + bytes / 1000
}

async function startPeer(script: string, args: HeliaPeerArgs, name: string): Promise<Peer> {
  const child = spawn(process.execPath, [script, JSON.stringify(args)], { stdio: ['pipe', 'pipe', 'inherit'] })
  const lines = createInterface({ input: child.stdout! })
  const pending = new Map<number, { resolve: (r: HeliaReply) => void; reject: (e: Error) => void }>()
  let nextId = 1
  let exitError: Error | undefined
  let started: ((line: string) => void) | undefined
  lines.on('line', (line) => {
    if (started !== undefined) {
      const s = started
      started = undefined
      s(line)
      return
    }
    let reply: HeliaReply
    try {
      reply = JSON.parse(line) as HeliaReply
    } catch {
      return
    }
    const waiter = pending.get(reply.id)
    if (waiter === undefined) return
    pending.delete(reply.id)
    if (reply.ok) waiter.resolve(reply)
    else waiter.reject(new Error(`Helia ${name}: ${reply.error ?? 'failed'}`))
  })
  child.once('exit', (code, signal) => {
    exitError = new Error(`Helia ${name} exited (${signal ?? `code ${String(code)}`})`)
    for (const waiter of pending.values()) waiter.reject(exitError)
    pending.clear()
  })
  const first = await Promise.race([
    new Promise<string>((resolve) => {
      started = resolve
    }),
    once(child, 'exit').then(([code]) => {
      throw new Error(`Helia ${name} exited with ${String(code)} before it started`)
    }),
    new Promise<never>((_, reject) =>
      setTimeout(
        () => reject(new Error(`Helia ${name} did not start within ${PEER_START_TIMEOUT_MS} ms`)),
        PEER_START_TIMEOUT_MS
      ).unref()
    )
  ]).catch((err: unknown) => {
    child.kill('SIGKILL')
    throw err
  })
  const { multiaddr, peerId } = JSON.parse(first) as { multiaddr: string; peerId: string }
  return {
    role: args.role,
    child,
    multiaddr,
    peerId,
    request: async (op, timeoutMs) => {
      if (exitError !== undefined) throw exitError
      const id = nextId++
      const reply = new Promise<HeliaReply>((resolve, reject) => {
        const timer = setTimeout(() => {
          pending.delete(id)
          reject(new Error(`Helia ${name}: ${op.op} took longer than ${Math.round(timeoutMs / 1000)} s`))
        }, timeoutMs)
        timer.unref()
        pending.set(id, {
          resolve: (r) => {
            clearTimeout(timer)
            resolve(r)
          },
          reject: (e) => {
            clearTimeout(timer)
            reject(e)
          }
        })
      })
      child.stdin!.write(JSON.stringify({ id, ...op }) + '\n')
      return await reply
    }
  }
}

async function stopPeer(peer: Peer): Promise<void> {
  const { child } = peer
  if (child.exitCode !== null || child.signalCode !== null) return
  const exited = once(child, 'exit')
  child.stdin!.end()
  const timer = setTimeout(() => child.kill('SIGKILL'), PEER_STOP_TIMEOUT_MS)
  await exited
  clearTimeout(timer)
}

/**
 * Starts the adder and `readers` readers (each a process), connects every reader to the adder and to nothing
 * else, so that every fetched block comes from the adder. `peerScript` is the compiled helia-peer.js (the
 * default: next to this module, i.e. in dist/).
 */
export async function startHeliaSwarm(options: { readers?: number; peerScript?: string } = {}): Promise<HeliaSwarm> {
  const readerCount = options.readers ?? HELIA_READERS
  const script = options.peerScript ?? fileURLToPath(new URL('./helia-peer.js', import.meta.url))
  const root = await mkdtemp(join(tmpdir(), 'sherd-bench-helia-'))
  const peers: Peer[] = []
  let prepared: { bytes: number; sha256: string } | undefined
  let cid: string | undefined

  const stop = async (): Promise<void> => {
    await Promise.all(peers.map(stopPeer))
    await rm(root, { recursive: true, force: true })
  }

  try {
    const start = async (role: HeliaRole, name: string): Promise<Peer> => {
      const dir = join(root, name)
      await mkdir(dir)
      const peer = await startPeer(script, { role, dir }, name)
      peers.push(peer)
      return peer
    }
    const adder = await start('adder', 'adder')
    if (adder.multiaddr === '') throw new Error('the Helia adder has no listen address')
    const readers: Peer[] = []
    for (let i = 0; i < readerCount; i++) readers.push(await start('reader', `reader-${i}`))
    await Promise.all(
      readers.map(
        async (r) =>
          await r.request({ op: 'connect', multiaddr: adder.multiaddr, peerId: adder.peerId }, PEER_START_TIMEOUT_MS)
      )
    )

    return {
      readers: readerCount,
      async prepare(bytes) {
        const cleared = await Promise.all(
          peers.map(async (p) => await p.request({ op: 'clear' }, requestTimeout(bytes)))
        )
        const left = cleared.reduce((n, r) => n + (r.blocks ?? 0), 0)
        if (left > 0)
          throw new Error(`Helia kept ${left} blocks after garbage collection; the next round would not start empty`)
        const reply = await adder.request({ op: 'prepare', bytes }, requestTimeout(bytes))
        prepared = { bytes, sha256: reply.sha256! }
        cid = undefined
      },
      async add() {
        if (prepared === undefined) throw new Error('add before prepare')
        const reply = await adder.request({ op: 'add' }, requestTimeout(prepared.bytes))
        cid = reply.cid!
        return { cpuMs: reply.cpuMs, servingCpuMs: 0 }
      },
      async fetch(which) {
        if (prepared === undefined || cid === undefined) throw new Error('fetch before add')
        const expected = prepared
        const link = cid
        const chosen = which.map((i) => {
          const r = readers[i]
          if (r === undefined) throw new RangeError(`no reader ${i}: the swarm has ${readerCount}`)
          return r
        })
        const timeoutMs = requestTimeout(expected.bytes * chosen.length)
        const before = (await adder.request({ op: 'cpu' }, timeoutMs)).totalCpuMs!
        const replies = await Promise.all(chosen.map(async (r) => await r.request({ op: 'get', cid: link }, timeoutMs)))
        const after = (await adder.request({ op: 'cpu' }, timeoutMs)).totalCpuMs!
        for (const [i, reply] of replies.entries()) {
          if (reply.bytes !== expected.bytes || reply.sha256 !== expected.sha256) {
            throw new Error(
              `Helia reader ${which[i]!} returned different bytes (${String(reply.bytes)} bytes, sha256 ${String(reply.sha256)}) than were added (${expected.bytes}, ${expected.sha256})`
            )
          }
        }
        return { cpuMs: replies.reduce((n, r) => n + r.cpuMs, 0), servingCpuMs: after - before }
      },
      stop
    }
  } catch (err) {
    await stop()
    throw err
  }
}
