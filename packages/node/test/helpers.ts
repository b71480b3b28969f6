import { existsSync } from 'node:fs'
import { join } from 'node:path'
import { randomBytes } from 'node:crypto'
import { spawn } from 'node:child_process'
import type { ChildProcessWithoutNullStreams } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { multiaddr } from '@multiformats/multiaddr'
import type { Stream } from '@libp2p/interface'
import { merkleRoot } from '@sherd/proofs'
import { tempDir } from '@sherd/test-support'
import { CONFIG_FILE, createHost, createProviderNode, initDataDir } from '../src/index.js'
import type { ProviderNode, ProviderNodeConfig, SherdHost } from '../src/index.js'

/** An initialised data dir and a started provider on 127.0.0.1 with ephemeral ports. */
export async function startNode(
  options: Partial<ProviderNodeConfig> & { dataDir?: string } = {}
): Promise<ProviderNode> {
  const dataDir = options.dataDir ?? (await tempDir())
  // A second init is refused; a test that made the data dir itself (with its own key) keeps it.
  if (!existsSync(join(dataDir, CONFIG_FILE))) await initDataDir(dataDir)
  const node = await createProviderNode({
    listen: ['/ip4/127.0.0.1/tcp/0'],
    httpPort: 0,
    capacityBytes: 64 * 1024 * 1024,
    ...options,
    dataDir
  })
  await node.start()
  return node
}

/** A libp2p host that only dials (as a client would). */
export async function startDialer(init: { maxStreamWindowBytes?: number } = {}): Promise<SherdHost> {
  return await createHost({ privateKey: await generateKeyPair('Ed25519'), listen: [], ...init })
}

export async function open(dialer: SherdHost, node: ProviderNode, protocol: string): Promise<Stream> {
  const addr = node.libp2p.getMultiaddrs()[0]
  if (addr === undefined) throw new Error('node has no address')
  return await dialer.dialProtocol(multiaddr(addr.toString()), protocol)
}

export function randomShard(byteLength: number): { bytes: Uint8Array; root: Uint8Array } {
  const bytes = new Uint8Array(randomBytes(byteLength))
  return { bytes, root: merkleRoot(bytes) }
}

/** Reads everything the provider sends until it closes. */
export async function readAllFrom(stream: Stream): Promise<Uint8Array> {
  const parts: Uint8Array[] = []
  for await (const chunk of stream) parts.push(chunk instanceof Uint8Array ? chunk : chunk.subarray())
  return Buffer.concat(parts)
}

const hooks = fileURLToPath(new URL('./fixtures/source-hooks.mjs', import.meta.url))
const entry = fileURLToPath(new URL('./fixtures/cli-main.ts', import.meta.url))

/** The real CLI, from source, as its own process (process.execPath is the pinned Node 24). */
export function cli(args: string[]): ChildProcessWithoutNullStreams {
  return spawn(
    process.execPath,
    ['--experimental-transform-types', '--no-warnings', '--import', hooks, entry, ...args],
    { stdio: 'pipe' }
  )
}

export async function runToEnd(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = cli(args)
  let stdout = ''
  let stderr = ''
  child.stdout.on('data', (d: Buffer) => {
    stdout += d.toString()
  })
  child.stderr.on('data', (d: Buffer) => {
    stderr += d.toString()
  })
  const code = await new Promise<number | null>((resolve) => child.on('exit', resolve))
  return { code, stdout, stderr }
}
