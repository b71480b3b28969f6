// The Helia peers of the system suite, as the suite runs them: compiled peer processes (bench/dist, built by
// `npx tsc -b`), a disk blockstore each, bitswap over TCP on 127.0.0.1.
import { existsSync } from 'node:fs'
import { readdir } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { fileURLToPath } from 'node:url'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startHeliaSwarm } from '../src/system/helia.js'
import type { HeliaSwarm } from '../src/system/helia.js'

const peerScript = fileURLToPath(new URL('../dist/system/helia-peer.js', import.meta.url))
const CHUNK = 262_144 // unixfs's default leaf size

async function heliaDirs(): Promise<string[]> {
  return (await readdir(tmpdir())).filter((name) => name.startsWith('sherd-bench-helia-'))
}

describe('Helia swarm (system suite peer comparison)', () => {
  let swarm: HeliaSwarm
  let dirsBefore: string[]

  beforeAll(async () => {
    if (!existsSync(peerScript)) throw new Error(`${peerScript} is missing: run npx tsc -b first`)
    dirsBefore = await heliaDirs()
    swarm = await startHeliaSwarm({ peerScript })
  })

  afterAll(async () => {
    await swarm?.stop()
  })

  // Empty, one byte, one leaf ± 1 byte, two leaves, and one past a full first level of the DAG (174 links).
  for (const bytes of [0, 1, CHUNK - 1, CHUNK, CHUNK + 1, 2 * CHUNK, 174 * CHUNK + 1]) {
    it(`adds ${bytes} bytes and fetches them back identical from one reader and from three at once`, async () => {
      await swarm.prepare(bytes)
      const add = await swarm.add()
      expect(add.cpuMs).toBeGreaterThan(0)
      const one = await swarm.fetch([0])
      const three = await swarm.fetch([1, 2, 3])
      expect(one.cpuMs).toBeGreaterThan(0)
      expect(three.cpuMs).toBeGreaterThan(0)
      // Readers know only the adder, so it served every block of a non-empty file.
      if (bytes > 0) expect(three.servingCpuMs).toBeGreaterThan(0)
    }, 180_000)
  }

  it('refuses to fetch before anything of this round was added, and names a reader it does not have', async () => {
    await swarm.prepare(1024)
    await expect(swarm.fetch([0])).rejects.toThrow(/fetch before add/)
    await swarm.add()
    await expect(swarm.fetch([9])).rejects.toThrow(/no reader 9/)
    await swarm.fetch([0])
  })

  it('stops every peer and removes its directories', async () => {
    await swarm.stop()
    expect(await heliaDirs()).toEqual(dirsBefore)
    await expect(swarm.prepare(1)).rejects.toThrow(/exited/)
  })
})
