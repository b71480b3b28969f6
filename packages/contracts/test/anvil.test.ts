import { readdir, stat } from 'node:fs/promises'
import { homedir } from 'node:os'
import { join } from 'node:path'
import { createPublicClient, http } from 'viem'
import { expect, test } from 'vitest'
import { AnvilStartError, resolveAnvilBinary, startAnvil } from '../src/index.js'

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch {
    return false
  }
}

test('starts on a free loopback port, answers, and stops without leaving a process', async () => {
  expect(resolveAnvilBinary()).toMatch(/anvil/)
  const [a, b] = await Promise.all([startAnvil(), startAnvil({ chainId: 4242, blockTime: 1 })])
  try {
    expect(a.port).not.toBe(b.port)
    expect(a.url).toBe(`http://127.0.0.1:${a.port}`)
    expect(b.chainId).toBe(4242)
    const client = createPublicClient({ transport: http(b.url) })
    expect(await client.getChainId()).toBe(4242)
    expect(alive(a.pid) && alive(b.pid)).toBe(true)
  } finally {
    await Promise.all([a.stop(), b.stop()])
  }
  expect(alive(a.pid)).toBe(false)
  expect(alive(b.pid)).toBe(false)
  await a.stop() // idempotent
})

test('a taken port is a clear error, and the failed process is gone', async () => {
  const a = await startAnvil()
  try {
    await expect(startAnvil({ port: a.port })).rejects.toThrow(AnvilStartError)
  } finally {
    await a.stop()
  }
})

test('a missing binary is a clear error', async () => {
  await expect(startAnvil({ binary: '/nonexistent/anvil' })).rejects.toThrow(AnvilStartError)
})

test('an aborted start stops the process', async () => {
  const controller = new AbortController()
  controller.abort()
  await expect(startAnvil({ signal: controller.signal })).rejects.toThrow()
})

test('leaves no state on disk: what anvil offloads goes to a HOME of its own, removed when it stops', async () => {
  const shared = join(homedir(), '.foundry', 'anvil', 'tmp')
  const before = new Set(await readdir(shared).catch(() => []))
  const a = await startAnvil()
  try {
    // Enough blocks for anvil to start offloading states to disk (an anvil-state-* directory it never removes).
    await createPublicClient({ transport: http(a.url) }).request({
      method: 'anvil_mine' as never,
      params: ['0x400'] as never
    })
    expect(await readdir(join(a.home, '.foundry', 'anvil', 'tmp'))).not.toHaveLength(0)
  } finally {
    await a.stop()
  }
  await expect(stat(a.home)).rejects.toThrow(/ENOENT/)
  // Nothing of it in the user's own ~/.foundry either (other anvils have HOMEs of their own too).
  for (const d of await readdir(shared).catch(() => [])) expect(before.has(d), `${d} appeared in ${shared}`).toBe(true)
})
