import { execFile } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { describe, expect, it } from 'vitest'
import { needsBufferAccountingFlag } from '@sherd/protocol/heap-node'

const execFileAsync = promisify(execFile)
const churn = fileURLToPath(new URL('./fixtures/buffer-churn.mjs', import.meta.url))
const heapModule = fileURLToPath(new URL('../src/heap-node.ts', import.meta.url))

async function markCompacts(mode: 'default' | 'set' | 'launch'): Promise<number> {
  const args = mode === 'set' ? [churn, 'set', heapModule] : mode === 'launch' ? [churn, 'launch'] : [churn]
  const { stdout } = await execFileAsync(process.execPath, ['--no-warnings', ...args], { timeout: 60_000 })
  return (JSON.parse(stdout.trim()) as { markCompacts: number }).markCompacts
}

describe('needsBufferAccountingFlag', () => {
  it('is true from V8 13.0 up to 14.8, where the behaviour became the default and the flag went', () => {
    expect(needsBufferAccountingFlag('13.6.233.17-node.37')).toBe(true)
    expect(needsBufferAccountingFlag('13.0.0')).toBe(true)
    expect(needsBufferAccountingFlag('14.6.1.2-node.1')).toBe(true)
    expect(needsBufferAccountingFlag('14.7.99')).toBe(true)
    expect(needsBufferAccountingFlag('14.8.0')).toBe(false)
    expect(needsBufferAccountingFlag('15.1.0')).toBe(false)
    expect(needsBufferAccountingFlag('12.4.254.21-node.33')).toBe(false)
    expect(needsBufferAccountingFlag('not a version')).toBe(false)
  })
})

describe.runIf(needsBufferAccountingFlag(process.versions.v8))('accountBuffersInHeapLimit', () => {
  it('cuts the mark-compacts that dead buffers start to a quarter or fewer', async () => {
    const without = await markCompacts('default')
    const withFlag = await markCompacts('set')
    // 1 GiB of buffers is 16 of V8's 64 MB external-allocation steps; the heap itself never fills.
    expect(without).toBeGreaterThanOrEqual(8)
    expect(withFlag).toBeLessThanOrEqual(without / 4)
  })

  it('is what every Sherd bin gets: launch sets it before the CLI loads', async () => {
    const without = await markCompacts('default')
    const launched = await markCompacts('launch')
    expect(without).toBeGreaterThanOrEqual(8)
    expect(launched).toBeLessThanOrEqual(without / 4)
  })
})
