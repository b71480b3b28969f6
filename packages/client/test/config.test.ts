// createClient's checks of its configuration, before anything connects.
import { describe, expect, it } from 'vitest'
import { ClientConfigError, createClient } from '@sherd/client'

describe('createClient account', () => {
  it('takes a private key as a plain string, as read from the environment', () => {
    // Typed `string`, not `0x${string}`: this line is what README's example does with process.env.
    const fromEnv: string = '0x' + 'ab'.repeat(32)
    expect(() => createClient({ account: fromEnv })).not.toThrow()
  })

  it('refuses a string that is not a private key with a ClientConfigError that does not echo it', () => {
    for (const bad of [
      '',
      'ab'.repeat(32),
      '0x' + 'ab'.repeat(31) + 'a',
      '0x' + 'zz'.repeat(32),
      ' 0x' + 'ab'.repeat(32)
    ]) {
      let error: unknown
      try {
        createClient({ account: bad })
      } catch (err) {
        error = err
      }
      expect(error, JSON.stringify(bad)).toBeInstanceOf(ClientConfigError)
      expect((error as Error).message).toMatch(/0x followed by 64 hex digits/)
      if (bad.length > 0) expect((error as Error).message).not.toContain(bad.trim())
    }
  })
})
