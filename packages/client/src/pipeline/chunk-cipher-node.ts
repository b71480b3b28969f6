import { createCipheriv, createDecipheriv, createSecretKey } from 'node:crypto'
import { chunkNonce } from './cipher.js'
import type { SegmentCipher } from './chunk-cipher.js'

const TAG_BYTES = 16

/** The `node:crypto` implementation of SegmentCipher: synchronous on the calling thread, same bytes as WebCrypto. */
export function nodeSegmentCipher(keyBytes: Uint8Array): SegmentCipher {
  // A KeyObject made once: given raw bytes, createCipheriv imports the key again for every 64 KiB chunk, which
  // profiled at about as much CPU as the AES itself.
  const key = createSecretKey(keyBytes)
  return {
    sealInto: async (chunkIndex, final, plaintext, out, at) => {
      const cipher = createCipheriv('aes-256-gcm', key, chunkNonce(chunkIndex, final))
      out.set(cipher.update(plaintext), at)
      cipher.final()
      out.set(cipher.getAuthTag(), at + plaintext.length)
    },
    openInto: async (chunkIndex, final, sealed, out, at) => {
      if (sealed.length < TAG_BYTES) return false
      const length = sealed.length - TAG_BYTES
      const decipher = createDecipheriv('aes-256-gcm', key, chunkNonce(chunkIndex, final))
      decipher.setAuthTag(sealed.subarray(length))
      out.set(decipher.update(sealed.subarray(0, length)), at)
      try {
        decipher.final()
        return true
      } catch {
        // GCM hands out plaintext before the tag is checked: wipe it, the caller must never see it.
        out.fill(0, at, at + length)
        return false
      }
    }
  }
}
