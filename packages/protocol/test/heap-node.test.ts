import { execFile } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { describe, expect, it } from 'vitest'
import { accountBuffersInHeapLimit, needsBufferAccountingFlag } from '@sherd/protocol/heap-node'

const execFileAsync = promisify(execFile)
const churn = fileURLToPath(new URL('./fixtures/buffer-churn.mjs', import.meta.url))
const heapModule = fileURLToPath(new URL('../src/heap-node.ts', import.meta.url))

async function markCompacts(
  mode: 'default' | 'set' | 'launch' | 'launch-client',
  env: NodeJS.ProcessEnv = {}
): Promise<number> {
  const args = mode === 'set' ? [churn, 'set', heapModule] : mode === 'default' ? [churn] : [churn, mode]
  const { stdout } = await execFileAsync(process.execPath, ['--no-warnings', ...args], {
    timeout: 60_000,
    env: { ...process.env, SHERD_V8_BUFFER_ACCOUNTING: undefined, ...env }
  })
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

describe('accountBuffersInHeapLimit, what it decides', () => {
  // None of these sets the flag (each returns before), so this process's V8 is left as it was.
  it('follows SHERD_V8_BUFFER_ACCOUNTING, else the program default, and only on a V8 that needs it', () => {
    const v8 = '13.6.233.17-node.37'
    expect(accountBuffersInHeapLimit({ env: { SHERD_V8_BUFFER_ACCOUNTING: '0' }, version: v8 })).toBe(false)
    expect(accountBuffersInHeapLimit({ byDefault: false, env: {}, version: v8 })).toBe(false)
    expect(accountBuffersInHeapLimit({ byDefault: false, env: { SHERD_V8_BUFFER_ACCOUNTING: '' }, version: v8 })).toBe(
      false
    )
    // Only "1" turns it on against the program's default: another word is as if unset.
    for (const word of ['false', 'off', 'no', 'true'])
      expect(
        accountBuffersInHeapLimit({ byDefault: false, env: { SHERD_V8_BUFFER_ACCOUNTING: word }, version: v8 })
      ).toBe(false)
    expect(accountBuffersInHeapLimit({ env: { SHERD_V8_BUFFER_ACCOUNTING: '1' }, version: '14.8.0' })).toBe(false)
    expect(accountBuffersInHeapLimit({ env: {}, version: '12.4.254.21' })).toBe(false)
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

  it('is what the server bins get: launch sets it before the CLI loads, unless SHERD_V8_BUFFER_ACCOUNTING=0', async () => {
    const without = await markCompacts('default')
    expect(without).toBeGreaterThanOrEqual(8)
    expect(await markCompacts('launch')).toBeLessThanOrEqual(without / 4)
    expect(await markCompacts('launch', { SHERD_V8_BUFFER_ACCOUNTING: '0' })).toBeGreaterThanOrEqual(8)
  })

  it('is left off for the sherd client unless SHERD_V8_BUFFER_ACCOUNTING=1', async () => {
    const without = await markCompacts('default')
    expect(await markCompacts('launch-client')).toBeGreaterThanOrEqual(without / 2)
    expect(await markCompacts('launch-client', { SHERD_V8_BUFFER_ACCOUNTING: '1' })).toBeLessThanOrEqual(without / 4)
  })
})
