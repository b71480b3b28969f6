import { afterAll, describe, expect, it } from 'vitest'
import type { ChildProcessWithoutNullStreams } from 'node:child_process'
import { createInterface } from 'node:readline'
import { join } from 'node:path'
import { readFile, readdir, writeFile } from 'node:fs/promises'
import { createServer } from 'node:net'
import type { Server } from 'node:net'
import { Level } from 'level'
import { multiaddr } from '@multiformats/multiaddr'
import {
  FETCH_SHARD_PROTOCOL,
  MAX_CONTROL_FRAME_BYTES,
  STORE_SHARD_PROTOCOL,
  WireReader,
  encodeFrame,
  requestFetchShard,
  requestStoreShard,
  sendBytes
} from '@sherd/protocol'
import type { ByteStream } from '@sherd/protocol'
import { removeDir, tempDir } from '@sherd/test-support'
import type { ReadyInfo, SherdHost } from '../src/index.js'
import { cli, randomShard, runToEnd, startDialer } from './helpers.js'

async function startProcess(dataDir: string): Promise<{ child: ChildProcessWithoutNullStreams; ready: ReadyInfo }> {
  const child = cli(['start', '--data-dir', dataDir, '--http-port', '0', '--listen', '/ip4/127.0.0.1/tcp/0'])
  let stderr = ''
  child.stderr.on('data', (d: Buffer) => {
    stderr += d.toString()
  })
  const lines = createInterface({ input: child.stdout })
  const ready = await new Promise<ReadyInfo>((resolve, reject) => {
    lines.once('line', (line) => {
      resolve(JSON.parse(line) as ReadyInfo)
    })
    child.once('exit', (code) => {
      reject(new Error(`sherd-node start exited with ${code}: ${stderr}`))
    })
  })
  return { child, ready }
}

const children: ChildProcessWithoutNullStreams[] = []
const dirs: string[] = []
let dialer: SherdHost | undefined

afterAll(async () => {
  await dialer?.stop()
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL')
  for (const d of dirs) await removeDir(d)
})

describe('sherd-node CLI', () => {
  it('serves no partial shard after being killed with SIGKILL during a store', async () => {
    const dataDir = await tempDir()
    dirs.push(dataDir)
    const init = await runToEnd(['init', '--data-dir', dataDir])
    expect(init.code).toBe(0)
    expect(JSON.parse(init.stdout)).toMatchObject({ dataDir })

    let { child, ready } = await startProcess(dataDir)
    children.push(child)
    expect(ready).toMatchObject({ event: 'ready', dataDir })
    dialer = await startDialer()
    const addr = multiaddr(ready.multiaddrs[0]!)
    const { bytes, root } = randomShard(8 * 1024 * 1024)

    const stream = await dialer.dialProtocol(addr, STORE_SHARD_PROTOCOL)
    const reader = new WireReader(stream as unknown as AsyncIterable<Uint8Array>)
    stream.send(encodeFrame({ root, byteLength: bytes.byteLength }))
    expect(await reader.readFrame(MAX_CONTROL_FRAME_BYTES)).toEqual({ status: 'accept' })
    for (let o = 0; o < 5 * 1024 * 1024; o += 1024 * 1024) {
      await sendBytes(stream as unknown as ByteStream, bytes.subarray(o, o + 1024 * 1024))
    }
    // Wait until the node has the bytes in hand (its reservation shows, its counter moved), then kill it.
    const deadline = Date.now() + 10_000
    for (;;) {
      const metrics = await (await fetch(`${ready.httpUrl}/metrics`)).text()
      const received = Number(/sherd_bytes_received_total (\d+)/.exec(metrics)?.[1] ?? 0)
      if (received >= 4 * 1024 * 1024 || Date.now() > deadline) break
      await new Promise((resolve) => setTimeout(resolve, 50))
    }
    const status = (await (await fetch(`${ready.httpUrl}/status`)).json()) as { store: { reservedBytes: number } }
    expect(status.store.reservedBytes).toBe(bytes.byteLength)
    child.kill('SIGKILL')
    await new Promise((resolve) => child.once('exit', resolve))
    stream.abort(new Error('provider killed'))

    // Chunks of the partial write are on disk with their pending marker.
    const db = new Level<string, Uint8Array>(join(dataDir, 'store'), { valueEncoding: 'view' })
    const rootHex = Buffer.from(root).toString('hex')
    let partialChunks = 0
    for await (const _ of db.keys({ gte: `s!c!${rootHex}!`, lt: `s!c!${rootHex}!~` })) partialChunks++
    expect(partialChunks).toBeGreaterThan(0)
    await db.close()

    ;({ child, ready } = await startProcess(dataDir))
    children.push(child)
    const after = (await (await fetch(`${ready.httpUrl}/status`)).json()) as {
      store: { shards: number; usedBytes: number; reservedBytes: number }
    }
    expect(after.store).toMatchObject({ shards: 0, usedBytes: 0, reservedBytes: 0 })
    await expect(
      requestFetchShard(await dialer.dialProtocol(multiaddr(ready.multiaddrs[0]!), FETCH_SHARD_PROTOCOL), { root })
    ).rejects.toMatchObject({ remoteName: 'NotFoundError' })
    // The same shard stores cleanly now and is served whole.
    await requestStoreShard(
      await dialer.dialProtocol(multiaddr(ready.multiaddrs[0]!), STORE_SHARD_PROTOCOL),
      { root, byteLength: bytes.byteLength },
      bytes
    )
    const got = await requestFetchShard(
      await dialer.dialProtocol(multiaddr(ready.multiaddrs[0]!), FETCH_SHARD_PROTOCOL),
      { root }
    )
    expect(Buffer.from(got.bytes).equals(Buffer.from(bytes))).toBe(true)

    // `status` asks the running node; SIGTERM stops it cleanly (exit 0, LevelDB closed and reopenable).
    const st = await runToEnd(['status', '--url', ready.httpUrl])
    expect(JSON.parse(st.stdout)).toMatchObject({ peerId: ready.peerId, store: { shards: 1 } })
    child.kill('SIGTERM')
    expect(await new Promise((resolve) => child.once('exit', resolve))).toBe(0)
    const reopened = new Level<string, Uint8Array>(join(dataDir, 'store'), { valueEncoding: 'view' })
    let markers = 0
    for await (const _ of reopened.keys({ gte: 's!w!', lt: 's!w!~' })) markers++
    expect(markers).toBe(0)
    await reopened.close()
  })

  it('explains what to do on unreachable RPCs, locked data dirs, missing init and unwired chain commands', async () => {
    const dataDir = await tempDir()
    dirs.push(dataDir)
    const missing = await runToEnd(['start', '--data-dir', join(dataDir, 'nope')])
    expect(missing.code).toBe(1)
    expect(missing.stderr).toMatch(/NotInitializedError: .*run `sherd-node init/)
    expect((await runToEnd(['init', '--data-dir', dataDir, '--capacity', '1GiB'])).code).toBe(0)
    const rpc = await runToEnd([
      'start',
      '--data-dir',
      dataDir,
      '--rpc-url',
      'http://127.0.0.1:9',
      '--contract',
      `0x${'11'.repeat(20)}`
    ])
    expect(rpc.code).toBe(1)
    expect(rpc.stderr).toMatch(/cannot reach the chain RPC at http:\/\/127\.0\.0\.1:9.*fix --rpc-url/)
    const { child } = await startProcess(dataDir)
    children.push(child)
    const locked = await runToEnd(['start', '--data-dir', dataDir, '--http-port', '0'])
    expect(locked.code).toBe(1)
    expect(locked.stderr).toMatch(/DataDirLockedError: .*stop the other sherd-node/)
    child.kill('SIGTERM')
    await new Promise((resolve) => child.once('exit', resolve))
    const withdraw = await runToEnd(['withdraw', '--data-dir', dataDir])
    expect(withdraw.code).toBe(1)
    expect(withdraw.stderr).toMatch(/needs the chain: pass --deployment \(or --rpc-url and --contract\)/)
    // A deployment file that is not there, or not one, is refused with what is wrong and no stack trace.
    const noFile = await runToEnd(['withdraw', '--data-dir', dataDir, '--deployment', join(dataDir, 'nope.json')])
    expect(noFile.code).toBe(1)
    expect(noFile.stderr).toMatch(/DeploymentFileError: .*nope\.json does not exist/)
    expect(noFile.stderr).not.toMatch(/\n\s+at /)
    await writeFile(join(dataDir, 'bad.json'), '{"contract":"StorageMarket"}')
    const badFile = await runToEnd(['start', '--data-dir', dataDir, '--deployment', join(dataDir, 'bad.json')])
    expect(badFile.code).toBe(1)
    expect(badFile.stderr).toMatch(/DeploymentFileError: .*contract/)
    const help = await runToEnd(['start', '--help'])
    expect(help.code).toBe(0)
    expect(help.stdout).toMatch(/--capacity/)
    const bad = await runToEnd(['init', '--bogus'])
    expect(bad.code).toBe(2)
  })

  it('init --force changes only the values given and keeps keys; a second init without --force changes nothing', async () => {
    const dataDir = await tempDir()
    dirs.push(dataDir)
    const bootstrap = '/ip4/127.0.0.1/tcp/4001/p2p/12D3KooWAbyD8tMJ5U9XqoTFMvbJUrakUWLsCq8kRKiCjjCR6Ro6'
    const contract = `0x${'11'.repeat(20)}`
    // The chain is not up at init: the amounts are kept as written, for start to convert.
    const first = await runToEnd([
      'init',
      '--data-dir',
      dataDir,
      '--capacity',
      '2GiB',
      '--price',
      '0.001',
      '--stake',
      '1000',
      '--bootstrap',
      bootstrap,
      '--rpc-url',
      'http://127.0.0.1:9',
      '--contract',
      contract,
      '--http-port',
      '7171'
    ])
    expect(first.code).toBe(0)
    expect(first.stderr).toMatch(/did not answer .*kept as written and converted with the token's decimals at start/)
    const readConfig = async (): Promise<Record<string, unknown>> =>
      JSON.parse(await readFile(join(dataDir, 'config.json'), 'utf8')) as Record<string, unknown>
    const written = await readConfig()
    expect(written).toMatchObject({
      capacityBytes: 2 * 2 ** 30,
      pricePerMiB: '0.001 tokens',
      stake: '1000 tokens',
      bootstrap: [bootstrap],
      rpcUrl: 'http://127.0.0.1:9',
      contractAddress: contract,
      httpPort: 7171
    })
    const keys = {
      peer: await readFile(join(dataDir, 'peer.key')),
      evm: await readFile(join(dataDir, 'evm.key'), 'utf8')
    }

    const second = await runToEnd(['init', '--data-dir', dataDir, '--capacity', '3GiB'])
    expect(second.code).toBe(1)
    expect(second.stderr).toMatch(
      /AlreadyInitializedError: .*already initialised.*nothing was changed.*init --data-dir .* --force`.*or edit .*config\.json/
    )
    expect(await readConfig()).toEqual(written)

    const forced = await runToEnd([
      'init',
      '--data-dir',
      dataDir,
      '--force',
      '--capacity',
      '3GiB',
      '--price',
      '2000base'
    ])
    expect(forced.code).toBe(0)
    expect(await readConfig()).toEqual({ ...written, capacityBytes: 3 * 2 ** 30, pricePerMiB: '2000' })
    expect(await readFile(join(dataDir, 'peer.key'))).toEqual(keys.peer)
    expect(await readFile(join(dataDir, 'evm.key'), 'utf8')).toBe(keys.evm)
    expect(JSON.parse(forced.stdout)).toMatchObject({
      peerId: JSON.parse(first.stdout).peerId,
      chainAddress: JSON.parse(first.stdout).chainAddress
    })
    // Base units kept in config.json are not shown as bare numbers: with no chain to name the token, they carry the suffix.
    expect(JSON.parse(forced.stdout)).toMatchObject({ pricePerMiB: '2000base', stake: '1000 tokens' })

    // A new peer key only when asked; the old one is kept beside it.
    const rekey = await runToEnd(['init', '--data-dir', dataDir, '--force', '--new-peer-key'])
    expect(rekey.code).toBe(0)
    expect(JSON.parse(rekey.stdout).peerId).not.toBe(JSON.parse(first.stdout).peerId)
    expect(JSON.parse(rekey.stdout).chainAddress).toBe(JSON.parse(first.stdout).chainAddress)
    const aside = (await readdir(dataDir)).filter((f) => f.startsWith('peer.key.replaced-'))
    expect(aside).toHaveLength(1)
    expect(await readFile(join(dataDir, aside[0]!))).toEqual(keys.peer)
    expect(await readConfig()).toEqual({ ...written, capacityBytes: 3 * 2 ** 30, pricePerMiB: '2000' })

    // Amounts that cannot be read, or a token amount with no chain to read the token from, say what to write.
    const bad = await runToEnd(['init', '--data-dir', dataDir, '--force', '--stake', '12,5'])
    expect(bad.code).toBe(1)
    expect(bad.stderr).toMatch(
      /--stake "12,5" is not a token amount: write tokens .* or base units with a "base" suffix/
    )
    const noChainDir = await tempDir()
    dirs.push(noChainDir)
    expect((await runToEnd(['init', '--data-dir', noChainDir, '--price', '0.5'])).code).toBe(0)
    const noChain = await runToEnd(['start', '--data-dir', noChainDir, '--http-port', '0'])
    expect(noChain.code).toBe(1)
    expect(noChain.stderr).toMatch(
      /price "0.5 tokens": token amounts need the token's decimals.*pass --deployment \(or --rpc-url and --contract\), or give base units/
    )
  })

  it('a listen port or status port in use is one line saying which and what to do, with a non-zero exit', async () => {
    const dataDir = await tempDir()
    dirs.push(dataDir)
    expect((await runToEnd(['init', '--data-dir', dataDir])).code).toBe(0)
    const blocker: Server = createServer()
    await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve))
    const port = (blocker.address() as { port: number }).port
    try {
      const libp2p = await runToEnd([
        'start',
        '--data-dir',
        dataDir,
        '--http-port',
        '0',
        '--listen',
        `/ip4/127.0.0.1/tcp/${port}`
      ])
      expect(libp2p.code).toBe(1)
      expect(libp2p.stderr.trim()).toBe(
        `sherd-node: AddressInUseError: the libp2p listen address /ip4/127.0.0.1/tcp/${port} is already in use: stop the process using it (another sherd-node?), or pick another port with --listen (or "listen" in config.json)`
      )
      const api = await runToEnd(['start', '--data-dir', dataDir, '--http-port', String(port)])
      expect(api.code).toBe(1)
      expect(api.stderr.trim()).toBe(
        `sherd-node: AddressInUseError: the status API port 127.0.0.1:${port} is already in use: stop the process using it, or pick another with --http-port (0 = any free port)`
      )
    } finally {
      await new Promise((resolve) => blocker.close(resolve))
    }
    // The data dir is not left locked: the same node starts once the port is free.
    const { child } = await startProcess(dataDir)
    children.push(child)
    child.kill('SIGTERM')
    expect(await new Promise((resolve) => child.once('exit', resolve))).toBe(0)
  })
})
