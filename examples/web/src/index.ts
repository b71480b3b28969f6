// The example page's Node side: bundle it with esbuild for the browser, fund an account for it on the devnet and
// serve it on 127.0.0.1. Used by `npm run example:web`, test/browser.test.ts and the browser bench.
import { createServer } from 'node:http'
import type { Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { readFile } from 'node:fs/promises'
import { fileURLToPath } from 'node:url'
import { gzipSync } from 'node:zlib'
import { build } from 'esbuild'
import { createTestClient, createWalletClient, http } from 'viem'
import { generatePrivateKey, privateKeyToAccount } from 'viem/accounts'
import type { Hex } from 'viem'
import { mintTokens, rpcChain } from '@sherd/contracts'
import type { Devnet } from '@sherd/devnet'

export { patternBytes } from './page-api.js'
export type { PageGetResult, PageHashCheck, PagePutResult, SherdPageApi } from './page-api.js'

const PAGE_DIR = fileURLToPath(new URL('../page/', import.meta.url))

/** What the browser is given by esbuild: `platform: 'browser'` turns on the "browser" package.json condition. */
const BROWSER_BUILD = {
  bundle: true,
  platform: 'browser',
  format: 'esm',
  target: 'chrome120',
  write: false,
  logLevel: 'silent'
} as const

/** The page's script, bundled (SDK included) from the packages' built dist/. */
export async function bundlePage(options: { minify?: boolean } = {}): Promise<string> {
  const result = await build({
    ...BROWSER_BUILD,
    entryPoints: [`${PAGE_DIR}app.ts`],
    minify: options.minify ?? false,
    sourcemap: 'inline'
  })
  return result.outputFiles[0]!.text
}

/**
 * The whole SDK (`export * from '@sherd/client'`) bundled and minified for a browser: its size, gzipped size and
 * the files it was built from (esbuild fails outright on a `node:` import with platform 'browser').
 */
export async function bundleSdk(): Promise<{ bytes: number; gzipBytes: number; inputs: string[] }> {
  const result = await build({
    ...BROWSER_BUILD,
    minify: true,
    metafile: true,
    stdin: { contents: "export * from '@sherd/client'", resolveDir: PAGE_DIR, loader: 'js', sourcefile: 'sdk.js' }
  })
  const bytes = result.outputFiles[0]!.contents
  return {
    bytes: bytes.byteLength,
    gzipBytes: gzipSync(bytes, { level: 9 }).byteLength,
    inputs: Object.keys(result.metafile.inputs)
  }
}

/** A fresh account with gas and tokens, for the page: the devnet's own client account stays the Node client's. */
export async function fundPageAccount(devnet: Devnet, tokens = 1_000_000n * 10n ** 18n): Promise<Hex> {
  const key = generatePrivateKey()
  const address = privateKeyToAccount(key).address
  const chain = rpcChain(devnet.chainId, devnet.rpcUrl)
  const transport = http(devnet.rpcUrl)
  await createTestClient({ chain, transport, mode: 'anvil' }).setBalance({ address, value: 10n ** 22n })
  const deployer = createWalletClient({ account: privateKeyToAccount(devnet.deployer.privateKey), chain, transport })
  await mintTokens(deployer, { publicClient: devnet.publicClient, token: devnet.token, to: address, amount: tokens })
  return key
}

export interface ExamplePageConfig {
  rpcUrl: string
  contract: string
  account: string
  bootstrap: string[]
  k: number
  m: number
  periods: number
}

export interface ServedPage {
  /** http://127.0.0.1:<port>/ : loopback, so a secure context that may open ws:// to the providers. */
  url: string
  config: ExamplePageConfig
  close: () => Promise<void>
}

/**
 * The page's Content-Security-Policy, as docs/browser.md asks of an app's page, so the example and the browser test
 * run under it: scripts from the page's origin and WebAssembly, the SDK's hashing workers from `blob:`, connections
 * to the page's origin, the chain RPC and providers' WebSockets on loopback (the page dials every provider it
 * learns of, so any port), and the page's inline style and data: favicon.
 */
export function pageContentSecurityPolicy(config: ExamplePageConfig): string {
  return [
    "default-src 'self'",
    "script-src 'self' 'wasm-unsafe-eval'",
    'worker-src blob:',
    "style-src 'self' 'unsafe-inline'",
    // The page's empty favicon (index.html) is a data: URL, so the browser asks for no /favicon.ico.
    "img-src 'self' data:",
    `connect-src 'self' ${new URL(config.rpcUrl).origin} ws://127.0.0.1:*`
  ].join('; ')
}

/**
 * Serves the page for `devnet`: index.html, app.js (bundled once, here) and config.json (the chain, the market, a
 * funded account of its own and every provider's WebSocket address), under `pageContentSecurityPolicy`. Loopback
 * only.
 */
export async function servePage(
  devnet: Devnet,
  options: { port?: number; k?: number; m?: number; periods?: number; minify?: boolean } = {}
): Promise<ServedPage> {
  const bootstrap = devnet.providers.flatMap((p) => p.wsMultiaddrs)
  if (bootstrap.length === 0)
    throw new Error("the devnet's providers announce no WebSocket address: a page cannot reach them")
  const config: ExamplePageConfig = {
    rpcUrl: devnet.rpcUrl,
    contract: devnet.market,
    account: await fundPageAccount(devnet),
    bootstrap,
    k: options.k ?? 4,
    m: options.m ?? 2,
    periods: options.periods ?? 16
  }
  const files: Record<string, { type: string; body: string }> = {
    '/': { type: 'text/html; charset=utf-8', body: await readFile(`${PAGE_DIR}index.html`, 'utf8') },
    '/app.js': {
      type: 'text/javascript; charset=utf-8',
      body: await bundlePage(options.minify === undefined ? {} : { minify: options.minify })
    },
    '/config.json': { type: 'application/json', body: JSON.stringify(config) }
  }
  const policy = pageContentSecurityPolicy(config)
  const server: Server = createServer((req, res) => {
    const path = new URL(req.url ?? '/', 'http://127.0.0.1').pathname
    const file = files[path === '/index.html' ? '/' : path]
    if (req.method !== 'GET' || file === undefined) {
      res.writeHead(404).end()
      return
    }
    res
      .writeHead(200, { 'content-type': file.type, 'cache-control': 'no-store', 'content-security-policy': policy })
      .end(file.body)
  })
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(options.port ?? 0, '127.0.0.1', () => {
      resolve()
    })
  })
  const { port } = server.address() as AddressInfo
  return {
    url: `http://127.0.0.1:${port}/`,
    config,
    close: async () => {
      await new Promise<void>((resolve) => {
        server.close(() => {
          resolve()
        })
        server.closeAllConnections()
      })
    }
  }
}
