// `npm run example:web`: a devnet with WebSocket listeners and the example page served on 127.0.0.1.
import { parseArgs } from 'node:util'
import { startDevnet } from '@sherd/devnet'
import { servePage } from './index.js'

export async function main(argv: string[]): Promise<void> {
  let values: { port?: string; providers?: string }
  try {
    values = parseArgs({ args: argv, options: { port: { type: 'string' }, providers: { type: 'string' } } }).values
  } catch (err) {
    console.error(`${(err as Error).message}\nusage: npm run example:web [-- --port N] [--providers N]`)
    process.exit(2)
  }
  const port = values.port === undefined ? 0 : Number(values.port)
  const providers = values.providers === undefined ? 6 : Number(values.providers)
  if (!Number.isSafeInteger(port) || port < 0 || port > 65_535 || !Number.isSafeInteger(providers) || providers < 3) {
    console.error('--port takes a port number (0: any free one) and --providers a whole number of at least 3')
    process.exit(2)
  }
  console.log(`starting a devnet of ${providers} providers (anvil, sherd-node with WebSocket listeners)…`)
  // The devnet stops itself on Ctrl-C (handleSignals); the page server dies with the process.
  const devnet = await startDevnet({ providers })
  const k = providers >= 6 ? 4 : 2
  const page = await servePage(devnet, { port, k, m: Math.min(2, providers - k) })
  console.log(
    `\nSherd example page: ${page.url}\n  (k=${page.config.k}, m=${page.config.m}; ${devnet.providers.length} providers on ${page.config.bootstrap.join(' ')})\n  Ctrl-C stops the devnet.`
  )
}
