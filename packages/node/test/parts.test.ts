import { createServer } from 'node:net'
import { describe, expect, it } from 'vitest'
import { NodeParts, createProviderNode, initDataDir } from '../src/index.js'
import type { NodePart } from '../src/index.js'
import { removeDir, tempDir } from '@sherd/test-support'

function recorder(): { log: string[]; part: (name: string, failStart?: boolean) => NodePart } {
  const log: string[] = []
  return {
    log,
    part: (name, failStart = false) => ({
      async start() {
        log.push(`start ${name}`)
        if (failStart) throw new Error(`${name} cannot start`)
      },
      stop() {
        log.push(`stop ${name}`)
      }
    })
  }
}

describe("NodeParts (the node's one parts list)", () => {
  it('starts in order and stops in the reverse order, skipping absent parts', async () => {
    const { log, part } = recorder()
    const parts = new NodeParts([part('store'), undefined, part('libp2p'), part('http')], () => {})
    await parts.start()
    await parts.stop()
    expect(log).toEqual(['start store', 'start libp2p', 'start http', 'stop http', 'stop libp2p', 'stop store'])
    await parts.stop()
    expect(log).toHaveLength(6)
  })

  it('a start that fails stops every part started before it, and the failing one, then rethrows', async () => {
    const { log, part } = recorder()
    const parts = new NodeParts([part('store'), part('libp2p'), part('http', true), part('collector')], () => {})
    await expect(parts.start()).rejects.toThrow('http cannot start')
    expect(log).toEqual(['start store', 'start libp2p', 'start http', 'stop http', 'stop libp2p', 'stop store'])
    // Nothing is left to stop: a later stop() stops nothing twice.
    await parts.stop()
    expect(log).toHaveLength(6)
  })

  it('a part whose stop throws does not keep the others running; the error is reported', async () => {
    const { log, part } = recorder()
    const failing: NodePart = {
      start() {
        log.push('start bad')
      },
      stop() {
        throw new Error('bad stop')
      }
    }
    const errors: string[] = []
    const parts = new NodeParts([part('store'), failing, part('http')], (err) => {
      errors.push((err as Error).message)
    })
    await parts.start()
    await parts.stop()
    expect(log).toEqual(['start store', 'start bad', 'start http', 'stop http', 'stop store'])
    expect(errors).toEqual(['bad stop'])
  })
})

describe('a provider whose start fails part-way', () => {
  it('stops what it started: libp2p is stopped and the store is closed (the data dir opens again)', async () => {
    const dataDir = await tempDir()
    const blocker = createServer()
    try {
      await initDataDir(dataDir)
      await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve))
      const port = (blocker.address() as { port: number }).port
      // The HTTP API starts after the store, libp2p and the stream protocols: its port in use fails the start there.
      const node = await createProviderNode({ dataDir, listen: ['/ip4/127.0.0.1/tcp/0'], httpPort: port })
      await expect(node.start()).rejects.toMatchObject({ code: 'EADDRINUSE' })
      expect(node.libp2p.status).toBe('stopped')
      const again = await createProviderNode({ dataDir, listen: ['/ip4/127.0.0.1/tcp/0'], httpPort: 0 })
      await again.start()
      expect(again.store.shards).toBe(0)
      await again.stop()
    } finally {
      blocker.close()
      await removeDir(dataDir)
    }
  }, 60_000)
})
