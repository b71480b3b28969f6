import { existsSync, readFileSync } from 'node:fs'
import { homedir } from 'node:os'
import { join, resolve } from 'node:path'
import type { MarketDeploymentRecord } from '@sherd/contracts'
import type { Hex } from 'viem'
import type { ClientConfig } from '../client.js'
import { ClientConfigError } from '../errors.js'
import { directoryManifestCache } from '../manifest-cache.js'
import { defaultJournalDir } from '../journal.js'
import { UsageError } from './common.js'

/** The flags every `sherd` command takes: where the network, the chain and this machine's state are. */
export const CONFIG_OPTIONS = {
  deployment: { type: 'string' },
  'rpc-url': { type: 'string' },
  contract: { type: 'string' },
  'private-key': { type: 'string' },
  bootstrap: { type: 'string', multiple: true },
  config: { type: 'string' },
  'score-file': { type: 'string' },
  'discovery-timeout-ms': { type: 'string' },
  'journal-dir': { type: 'string' },
  json: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
  version: { type: 'boolean', short: 'V' }
} as const

/** The flags of a put's shape (-k, -m, --segment-size, --periods): put takes them, repair takes --periods. */
export interface ShapeValues {
  k?: string
  m?: string
  'segment-size'?: string
  periods?: string
}

/** What `clientConfig` reads: the config flags, and a command's shape flags where it has them. */
export type ConfigValues = {
  [K in keyof typeof CONFIG_OPTIONS]?: (typeof CONFIG_OPTIONS)[K] extends { multiple: true }
    ? string[]
    : (typeof CONFIG_OPTIONS)[K]['type'] extends 'boolean'
      ? boolean
      : string
} & ShapeValues

export const ENV_HELP = `Configuration (flags override environment, which overrides the config file):
  --deployment <file>      SHERD_DEPLOYMENT    a market deployment file (sherd-market deploy, the devnet): chain id,
                                               RPC URL, market and token; --rpc-url and --contract still win
  --rpc-url <url>          SHERD_RPC_URL       chain JSON-RPC endpoint
  --contract <address>     SHERD_CONTRACT      ProofSetMarket address
  --private-key <0x...>    SHERD_PRIVATE_KEY   paying account (put, repair, extend, delete, wallet)
  --bootstrap <multiaddr>  SHERD_BOOTSTRAP     provider address(es) /ip4/../tcp/../p2p/<id>; repeat the flag,
                                               or separate with commas/spaces in the variable
  --config <file>          SHERD_CONFIG        JSON config file (default ~/.config/sherd/config.json) with
                                               {"rpcUrl","contract","privateKey","bootstrap":[...],"k","m",
                                                "segmentSize","periods","scoreFile","journalDir"}
  --score-file <file>      SHERD_SCORE_FILE    where provider scores persist (default ~/.config/sherd/scores.json)
  --journal-dir <dir>      SHERD_JOURNAL_DIR   where puts, repairs and deletions are recorded (default
                                               $XDG_DATA_HOME/sherd/files, else ~/.local/share/sherd/files)
  --discovery-timeout-ms <ms>                  how long to wait for provider announcements (default 10000)
  --json                   machine-readable output on stdout (amounts as base-unit strings; "token" gives the
                           decimals and symbol)
  -h, --help               help for any command
  -V, --version            the CLI's version

Amounts are in the market's token (e.g. 2.5 or 2.5SHERD); base units need a suffix: 2500000000000000000base.
Errors print what went wrong and what to do, exit 1; usage errors exit 2. SHERD_DEBUG=1 adds stack traces.`

interface FileConfig {
  deployment?: string
  rpcUrl?: string
  contract?: string
  privateKey?: string
  bootstrap?: string[] | string
  k?: number
  m?: number
  segmentSize?: number
  periods?: number
  scoreFile?: string
  journalDir?: string
}

export function configDir(env: NodeJS.ProcessEnv): string {
  return join(env.XDG_CONFIG_HOME ?? join(homedir(), '.config'), 'sherd')
}

/** Where sealed manifests are cached: SHERD_CACHE_DIR, else $XDG_CACHE_HOME/sherd, else ~/.cache/sherd. */
function manifestCacheDir(env: NodeJS.ProcessEnv): string {
  return join(env.SHERD_CACHE_DIR ?? join(env.XDG_CACHE_HOME ?? join(homedir(), '.cache'), 'sherd'), 'manifests')
}

function readConfigFile(path: string, explicit: boolean): FileConfig {
  if (!existsSync(path)) {
    if (explicit) throw new ClientConfigError(`config file ${path} does not exist`)
    return {}
  }
  try {
    return JSON.parse(readFileSync(path, 'utf8')) as FileConfig
  } catch (err) {
    throw new ClientConfigError(`config file ${path} is not valid JSON (${(err as Error).message}); fix or remove it`, {
      cause: err
    })
  }
}

export function splitList(value: string | string[] | undefined): string[] {
  if (value === undefined) return []
  const list = Array.isArray(value) ? value : [value]
  return list.flatMap((v) => v.split(/[\s,]+/)).filter((v) => v.length > 0)
}

export function intOption(value: string | undefined, name: string): number | undefined {
  if (value === undefined) return undefined
  const n = Number(value)
  if (!Number.isSafeInteger(n) || n < 0) throw new UsageError(`${name} must be a non-negative integer, got "${value}"`)
  return n
}

/**
 * Flags over the deployment file over environment over config file. The deployment file (--deployment, else
 * SHERD_DEPLOYMENT, else "deployment" in the config file) names a network as a whole, so it wins over the other
 * variables (a devnet.env left in the shell must not mix with it), but a flag typed now wins over everything.
 */
export async function clientConfig(values: ConfigValues, env: NodeJS.ProcessEnv): Promise<ClientConfig> {
  const explicit = values.config ?? env.SHERD_CONFIG
  const file = readConfigFile(explicit ?? join(configDir(env), 'config.json'), explicit !== undefined)
  const deploymentPath = values.deployment ?? env.SHERD_DEPLOYMENT ?? file.deployment
  let deployment: MarketDeploymentRecord | undefined
  if (deploymentPath !== undefined && deploymentPath !== '') {
    const { readMarketDeployment } = await import('@sherd/contracts')
    deployment = await readMarketDeployment(resolve(deploymentPath))
  }
  const rpcUrl = values['rpc-url'] ?? deployment?.rpcUrl ?? env.SHERD_RPC_URL ?? file.rpcUrl
  const contract = values.contract ?? deployment?.market ?? env.SHERD_CONTRACT ?? file.contract
  const privateKey = values['private-key'] ?? env.SHERD_PRIVATE_KEY ?? file.privateKey
  const bootstrap =
    values.bootstrap !== undefined
      ? splitList(values.bootstrap)
      : env.SHERD_BOOTSTRAP !== undefined
        ? splitList(env.SHERD_BOOTSTRAP)
        : splitList(file.bootstrap)
  const k = intOption(values.k, '-k') ?? file.k
  const m = intOption(values.m, '-m') ?? file.m
  const segmentSize = intOption(values['segment-size'], '--segment-size') ?? file.segmentSize
  const periods = intOption(values.periods, '--periods') ?? file.periods
  const discovery = intOption(values['discovery-timeout-ms'], '--discovery-timeout-ms')
  if (privateKey !== undefined && !/^0x[0-9a-fA-F]{64}$/.test(privateKey)) {
    throw new ClientConfigError(
      'the private key (--private-key / SHERD_PRIVATE_KEY) must be 0x followed by 64 hex digits'
    )
  }
  // A --contract other than the file's market is another deployment: the file's chain and token do not apply.
  const fromFile = deployment !== undefined && contract?.toLowerCase() === deployment.market.toLowerCase()
  return {
    ...(rpcUrl === undefined ? {} : { rpcUrl }),
    ...(contract === undefined ? {} : { contract }),
    ...(fromFile
      ? { expect: { chainId: deployment!.chainId, token: deployment!.token, source: deploymentPath! } }
      : {}),
    ...(privateKey === undefined ? {} : { account: privateKey as Hex }),
    bootstrap,
    ...(k === undefined ? {} : { k }),
    ...(m === undefined ? {} : { m }),
    ...(segmentSize === undefined ? {} : { segmentSize }),
    ...(periods === undefined ? {} : { periods }),
    ...(discovery === undefined ? {} : { discoveryTimeoutMs: discovery }),
    scoreFile: values['score-file'] ?? env.SHERD_SCORE_FILE ?? file.scoreFile ?? join(configDir(env), 'scores.json'),
    manifestCache: directoryManifestCache(manifestCacheDir(env)),
    journalDir: values['journal-dir'] ?? env.SHERD_JOURNAL_DIR ?? file.journalDir ?? defaultJournalDir(env)
  }
}
