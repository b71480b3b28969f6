import { createCipheriv } from 'node:crypto'
import type { Hash } from 'node:crypto'

const CHUNK_BYTES = 2 ** 20
/** The key of every input that does not ask for its own: the same bytes run after run. */
const DEFAULT_KEY = Buffer.alloc(16, 7)

/**
 * `total` pseudo-random bytes, 1 MiB at a time, each chunk fed to `hash` (when given) as it goes: AES-CTR over
 * zeros is incompressible like real data and runs at GB/s, so generating a multi-GiB input costs the benchmark
 * nothing. A different 16-byte `key` gives different bytes, for inputs that must not deduplicate against an
 * earlier run's (content-addressed stores).
 */
export async function* incompressibleBytes(
  total: number,
  hash?: Hash,
  key: Uint8Array = DEFAULT_KEY
): AsyncGenerator<Uint8Array> {
  const cipher = createCipheriv('aes-128-ctr', key, Buffer.alloc(16))
  const zeros = Buffer.alloc(CHUNK_BYTES)
  for (let left = total; left > 0; left -= CHUNK_BYTES) {
    const chunk = cipher.update(left >= CHUNK_BYTES ? zeros : zeros.subarray(0, left))
    hash?.update(chunk)
    yield chunk
  }
}
