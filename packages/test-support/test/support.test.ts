import { existsSync } from 'node:fs'
import { writeFile } from 'node:fs/promises'
import { basename, join } from 'node:path'
import { privateKeyToAccount } from 'viem/accounts'
import { describe, expect, it } from 'vitest'
import { anvilAccount, anvilKey, freePort, removeDir, tempDir, waitFor } from '../src/index.js'

describe('waitFor', () => {
  it('returns the first value that is neither false nor undefined', async () => {
    let calls = 0
    const value = await waitFor('the third call', () => (++calls === 3 ? { calls } : undefined), 5_000, 1)
    expect(value).toEqual({ calls: 3 })
    expect(calls).toBe(3)
  })

  it('keeps a falsy value that is not false or undefined (0, "")', async () => {
    expect(await waitFor('zero', () => 0, 1_000, 1)).toBe(0)
  })

  it('times out naming what it waited for, after polling more than once', async () => {
    let calls = 0
    await expect(
      waitFor(
        'a thing that never happens',
        () => {
          calls++
          return false
        },
        50,
        5
      )
    ).rejects.toThrow('timed out after 50 ms waiting for a thing that never happens')
    expect(calls).toBeGreaterThan(1)
  })

  it('ends at once when the check throws', async () => {
    let calls = 0
    await expect(
      waitFor(
        'x',
        () => {
          calls++
          throw new Error('broken check')
        },
        10_000
      )
    ).rejects.toThrow('broken check')
    expect(calls).toBe(1)
  })
})

describe('keys', () => {
  it("anvilKey is the private key of anvil's dev account of that index", () => {
    // anvil's documented first dev key.
    expect(anvilKey(0)).toBe('0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80')
    for (const i of [0, 1, 7]) expect(privateKeyToAccount(anvilKey(i)).address).toBe(anvilAccount(i).address)
    expect(anvilAccount(1).address).not.toBe(anvilAccount(0).address)
  })
})

describe('temp dirs and ports', () => {
  it('makes a fresh dir with the prefix and removes it with its contents, twice without error', async () => {
    const dir = await tempDir('sherd-support-test-')
    expect(basename(dir).startsWith('sherd-support-test-')).toBe(true)
    await writeFile(join(dir, 'file'), 'x')
    await removeDir(dir)
    expect(existsSync(dir)).toBe(false)
    await removeDir(dir)
  })

  it('picks a port in the TCP range', async () => {
    const port = await freePort()
    expect(Number.isInteger(port) && port > 1024 && port < 65536).toBe(true)
  })
})
