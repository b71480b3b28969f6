import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { DEFAULT_BLOCK_TIME_SECONDS, DEFAULT_PROVIDERS } from './constants.js'
import { startDevnet } from './devnet.js'
import type { Devnet, DevnetProgressEvent } from './devnet.js'
import { DEMO_K, DEMO_M, runDemo } from './demo.js'
import { shortId, Story, tokens } from './story.js'

const HELP = `sherd-devnet: a whole Sherd network on this machine (anvil, the contracts, provider processes)

Usage:
  sherd-devnet [--providers N] [--block-time S] [--dir DIR]   run the devnet until Ctrl-C
  sherd-devnet demo [--providers N] [--size BYTES]           run the devnet, then the demo story, then keep running

Flags:
  --providers N     provider processes (default ${DEFAULT_PROVIDERS})
  --block-time S    seconds between blocks, whole (default ${DEFAULT_BLOCK_TIME_SECONDS}; a period is 8 blocks)
  --dir DIR         keep data dirs and logs in DIR (kept after exit); a temp dir removed on exit otherwise
  --size BYTES      demo: size of the sample file (default 4 MiB)
  --debug           providers log with DEBUG=sherd:* (to DIR/logs/provider-<i>.log)
  -h, --help

Ctrl-C stops every process and removes the temp dir. npm start runs \`sherd-devnet demo\`.`

/** Shell lines that point the CLIs (`sherd`, `sherd-node`) at this devnet; also written to <dir>/devnet.env. */
export function devnetEnv(devnet: Devnet): Record<string, string> {
  return {
    // The deployment file names chain, RPC, market and token; the two below say the same for older tools.
    SHERD_DEPLOYMENT: devnet.deploymentFile,
    SHERD_RPC_URL: devnet.rpcUrl,
    SHERD_CONTRACT: devnet.market,
    SHERD_PRIVATE_KEY: devnet.client.privateKey,
    SHERD_BOOTSTRAP: devnet.bootstrap.join(','),
    // The devnet's peer ids live only as long as it does: keep their scores out of the user's score file.
    SHERD_SCORE_FILE: join(devnet.dir, 'scores.json'),
    // Likewise the sealed manifests the CLI caches (they are useless once the devnet is gone).
    SHERD_CACHE_DIR: join(devnet.dir, 'cache')
  }
}

function describeProgress(story: Story, e: DevnetProgressEvent): void {
  switch (e.type) {
    case 'chain-started':
      story.line(`anvil is up at ${e.rpcUrl} (chain id ${e.chainId})`)
      break
    case 'contracts-deployed':
      story.line(`deployed the SHERD token ${e.token} and the proof-set market ${e.market} (${e.deploymentFile})`)
      story.detail(
        `proving period ${e.params.periodBlocks} blocks, challenges drawn ${e.params.challengeDelayBlocks} block(s) in over each provider's whole proof set, ` +
          `deals fail after ${e.params.maxMissedPeriods} missed periods, ${e.params.slashBps / 100} % of a provider's locked collateral slashed per miss`
      )
      break
    case 'accounts-funded':
      story.line(
        `funded the client ${e.client} and ${e.providers.length} provider accounts with ${tokens(e.amount)} each`
      )
      break
    case 'interval-mining':
      story.line(`anvil now mines a block every ${e.blockTimeSeconds} s`)
      break
    case 'provider-started':
      story.line(
        `provider ${e.index} is up: ${shortId(e.peerId)} at ${e.multiaddr.replace(/\/p2p\/.*$/, '')}, status ${e.httpUrl}/status`
      )
      break
    case 'network-ready':
      story.line(
        `the network is ready: a client sees all ${e.providers} providers in the registry and in their announcements (${(e.elapsedMs / 1000).toFixed(1)} s)`
      )
      break
    case 'provider-crashed':
      story.line(
        `provider ${e.index} exited unexpectedly (${e.code ?? e.signal}): ${e.lastLines.split('\n').slice(-3).join(' | ')}`
      )
      break
  }
}

/** Writes devnet.json and devnet.env in the devnet's dir and prints how to use it. */
async function printUsage(story: Story, devnet: Devnet): Promise<void> {
  const env = devnetEnv(devnet)
  const envFile = join(devnet.dir, 'devnet.env')
  const jsonFile = join(devnet.dir, 'devnet.json')
  await writeFile(
    envFile,
    Object.entries(env)
      .map(([k, v]) => `export ${k}='${v}'`)
      .join('\n') + '\n'
  )
  // Market parameters hold a bigint (the audit bond): written as a decimal string.
  await writeFile(
    jsonFile,
    JSON.stringify(devnet.info(), (_, v: unknown) => (typeof v === 'bigint' ? v.toString() : v), 2) + '\n'
  )
  const p0 = devnet.providers[0]
  story.chapter('The devnet is running')
  story.text(`  chain      ${devnet.rpcUrl}  (chain id ${devnet.chainId})`)
  story.text(`  market     ${devnet.market}`)
  story.text(`  token      ${devnet.token}`)
  story.text(`  client     ${devnet.client.address}  key ${devnet.client.privateKey}`)
  for (const p of devnet.providers) {
    story.text(`  provider ${p.index}  ${p.state.padEnd(8)} ${p.multiaddrs[0] ?? ''}  ${p.httpUrl}`)
  }
  story.text(`  files      ${jsonFile}`)
  story.text(`             ${envFile}`)
  story.text(`             ${devnet.deploymentFile}  (the market's deployment file: --deployment)`)
  story.text('')
  story.text('Point the CLIs at it (from the repository root, in another terminal):')
  story.text('')
  story.text(`  source ${envFile}`)
  story.text("  npx sherd put ./some-file              # prints the file's sherd:// link")
  story.text("  npx sherd get 'sherd://…' -o ./copy    # reads it back")
  story.text("  npx sherd stat 'sherd://…'             # where its shards are and how their deals stand")
  if (p0 !== undefined) {
    story.text(`  npx sherd-node status --data-dir ${p0.dataDir}`)
    story.text(`  npx sherd-node status --url ${p0.httpUrl}`)
    story.text('')
    story.text(`Each provider's dashboard is its status URL in a browser, e.g. ${p0.httpUrl}/`)
  }
  story.text('')
  story.text('or with flags instead of the environment:')
  story.text(`  npx sherd put ./some-file --deployment ${devnet.deploymentFile} \\`)
  story.text(`    --private-key ${env.SHERD_PRIVATE_KEY} --bootstrap ${devnet.bootstrap[0] ?? ''}`)
  story.text('')
  story.text("Ctrl-C stops every process and removes the devnet's files.")
}

export async function main(argv: string[]): Promise<number> {
  let parsed
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        providers: { type: 'string' },
        'block-time': { type: 'string' },
        dir: { type: 'string' },
        size: { type: 'string' },
        debug: { type: 'boolean' },
        help: { type: 'boolean', short: 'h' }
      }
    })
  } catch (err) {
    process.stderr.write(`sherd-devnet: ${(err as Error).message}\n\n${HELP}\n`)
    return 2
  }
  const { values: v, positionals } = parsed
  if (v.help === true) {
    console.log(HELP)
    return 0
  }
  const command = positionals[0] ?? 'run'
  if (positionals.length > 1 || !['run', 'demo'].includes(command)) {
    process.stderr.write(`sherd-devnet: unknown command "${positionals.join(' ')}"\n\n${HELP}\n`)
    return 2
  }
  const providers = v.providers === undefined ? DEFAULT_PROVIDERS : Number(v.providers)
  const blockTimeSeconds = v['block-time'] === undefined ? DEFAULT_BLOCK_TIME_SECONDS : Number(v['block-time'])
  const size = v.size === undefined ? undefined : Number(v.size)
  if (!Number.isInteger(providers) || providers < 1) {
    process.stderr.write(`sherd-devnet: --providers must be a positive whole number, got "${v.providers}"\n`)
    return 2
  }
  if (!Number.isInteger(blockTimeSeconds) || blockTimeSeconds < 1) {
    process.stderr.write(`sherd-devnet: --block-time must be a whole number of seconds ≥ 1, got "${v['block-time']}"\n`)
    return 2
  }
  if (command === 'demo' && providers < DEMO_K + DEMO_M) {
    process.stderr.write(
      `sherd-devnet: the demo stores k + m = ${DEMO_K + DEMO_M} shards on distinct providers: give --providers ${DEMO_K + DEMO_M} or more\n`
    )
    return 2
  }
  if (size !== undefined && (!Number.isSafeInteger(size) || size < 1)) {
    process.stderr.write(`sherd-devnet: --size must be a positive number of bytes, got "${v.size}"\n`)
    return 2
  }

  const story = new Story()
  const controller = new AbortController()
  let devnet: Devnet | undefined
  let interrupted = false
  const onSignal = (sig: NodeJS.Signals): void => {
    if (interrupted) return
    interrupted = true
    story.line(`${sig}: stopping the devnet`)
    controller.abort(new Error(`${sig} received`))
  }
  process.on('SIGINT', onSignal)
  process.on('SIGTERM', onSignal)

  try {
    story.chapter(`Starting a devnet: anvil, the contracts and ${providers} provider processes`)
    devnet = await startDevnet({
      providers,
      blockTimeSeconds,
      ...(v.dir === undefined ? {} : { dir: v.dir }),
      ...(v.debug === true ? { nodeEnv: { DEBUG: 'sherd:*' } } : {}),
      handleSignals: false,
      onProgress: (e) => {
        describeProgress(story, e)
      },
      signal: controller.signal
    })
    if (command === 'demo') {
      await runDemo(devnet, story, { signal: controller.signal, ...(size === undefined ? {} : { sizeBytes: size }) })
    }
    await printUsage(story, devnet)
    // Run until Ctrl-C.
    await new Promise<void>((resolve) => {
      if (controller.signal.aborted) resolve()
      controller.signal.addEventListener(
        'abort',
        () => {
          resolve()
        },
        { once: true }
      )
    })
    return await shutdown(story, devnet, 0)
  } catch (err) {
    if (interrupted) return await shutdown(story, devnet, 0)
    const e = err as Error
    story.line(`failed: ${e.name}: ${e.message}`)
    if (e.cause instanceof Error) story.detail(`cause: ${e.cause.message.split('\n')[0]}`)
    return await shutdown(story, devnet, 1)
  } finally {
    process.off('SIGINT', onSignal)
    process.off('SIGTERM', onSignal)
  }
}

async function shutdown(story: Story, devnet: Devnet | undefined, code: number): Promise<number> {
  if (devnet === undefined) {
    // startDevnet has already stopped and removed whatever it had started.
    story.line('stopped before the network was up; nothing is left running')
    return code
  }
  await devnet.stop()
  story.line(`stopped every provider and anvil${devnet.temporaryDir ? `, removed ${devnet.dir}` : ''}`)
  return code
}

/** Entry point of bin/sherd-devnet.js. */
export async function run(): Promise<void> {
  process.exitCode = await main(process.argv.slice(2))
}
