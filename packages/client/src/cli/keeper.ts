import { homedir } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { defineCommand } from './command.js'
import { describeError } from './common.js'
import type { CliContext, CliIo } from './common.js'
import type { KeeperEvent } from '../keeper/keeper.js'

export const KEEPER_HELP = `Usage: sherd keeper <capability|add|remove|list|start> [flags]

The repair keeper looks after files for you: it checks a file at once on every market event of its deals
(DealFaulted, DealDeclaredLost, DealFailed, PeriodMissed; read every --event-interval-ms) and each one every
--interval-ms, repairs a segment once its
healthy shards fall to the repair threshold (k + max(1, round(m · 6/51)): 5 of 4+2, 11 of 10+4) and extends deals
that end within --extend-lead-hours while --budget lasts. Give it the file's repair capability
(sherd://<cid>#r=<repair key>, from \`sherd keeper capability <link>\`): it can repair the file but never read it.

  sherd keeper capability <link>  print the repair capability of a full link (computed here, nothing is sent)
  sherd keeper add <link>         keep a file (a repair capability or a full link); adding it again does nothing
  sherd keeper remove <cid|link>  stop keeping it (by the CID it was added under, any later CID, or a link)
  sherd keeper list [--links]     the files kept: id, current CID, repairs, a repair under way (--links: their links)
  sherd keeper start              run the keeper until Ctrl-C / SIGTERM (one line per repair or extension on stderr)

  --dir <dir>              SHERD_KEEPER_DIR    the keeper's store (default $XDG_DATA_HOME/sherd/keeper, else
                                               ~/.local/share/sherd/keeper; mode 0700: it holds repair keys)
  --interval-ms <ms>       time between checks of every file (default 60000)
  --event-interval-ms <ms> time between reads of the market's events (default 12000)
  --budget <amount>        tokens the keeper may spend on extensions, in total across restarts (default 0: never
                           extend); repairs are not limited by it (a skipped repair risks the file)
  --extend-lead-hours <h>  extend a file when one of its deals ends within this (default 336, two weeks)
  --extend-periods <n>     periods bought per extension (default 16)
  --periods <n>            term of the deals a repair opens (default the client's, 16)
  --threshold <n>          repair when healthy shards fall to n (default per code, as above)
  --suspect-after-ms <ms>  a provider that has not answered for this long counts as lost (default 1800000)
  --http-port <port>       serve /health, /status (JSON) and /metrics (Prometheus) on 127.0.0.1 (0: a free port)
  --rpc-url, --contract, --private-key, --bootstrap   as for every command (SHERD_RPC_URL, SHERD_CONTRACT,
                           SHERD_PRIVATE_KEY, SHERD_BOOTSTRAP); start needs them, the account pays repairs
  --json                   machine-readable output (list; start prints one JSON line per event)

A repair is recorded in the store before it spends anything and each deal it opens as it opens: a keeper stopped
or killed mid-repair finishes that repair when it starts again, taking the deals already opened instead of paying
for them twice. Every repair writes a new manifest version (a new CID); /status and \`list\` show the current one.
After each repair the keeper publishes the file's latest version (signed under the repair key) to its providers,
and \`sherd get\` with an older link follows it (docs/keeper.md, "Links after a repair").`

const OPTIONS = {
  dir: { type: 'string' },
  'interval-ms': { type: 'string' },
  'event-interval-ms': { type: 'string' },
  budget: { type: 'string' },
  'extend-lead-hours': { type: 'string' },
  'extend-periods': { type: 'string' },
  periods: { type: 'string' },
  threshold: { type: 'string' },
  'suspect-after-ms': { type: 'string' },
  'http-port': { type: 'string' },
  'rpc-url': { type: 'string' },
  contract: { type: 'string' },
  'private-key': { type: 'string' },
  bootstrap: { type: 'string', multiple: true },
  'score-file': { type: 'string' },
  links: { type: 'boolean' },
  json: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' }
} as const

/** A wrong command line: printed with the help, exit 2. */
class KeeperUsageError extends Error {
  override name = 'KeeperUsageError'
}

/** The keeper's store without --dir: SHERD_KEEPER_DIR, else $XDG_DATA_HOME/sherd/keeper, else ~/.local/share/sherd/keeper. */
export function defaultKeeperDir(env: NodeJS.ProcessEnv): string {
  return env.SHERD_KEEPER_DIR ?? join(env.XDG_DATA_HOME ?? join(homedir(), '.local', 'share'), 'sherd', 'keeper')
}

function count(value: string | undefined, flag: string, min = 0): number | undefined {
  if (value === undefined) return undefined
  const n = Number(value)
  if (!Number.isSafeInteger(n) || n < min)
    throw new KeeperUsageError(`${flag} must be an integer ≥ ${min}, got "${value}"`)
  return n
}

function splitList(value: string | string[] | undefined): string[] {
  if (value === undefined) return []
  return (Array.isArray(value) ? value : [value]).flatMap((v) => v.split(/[\s,]+/)).filter((v) => v.length > 0)
}

/** One line per keeper event a person cares about (checks that find nothing to do are not printed). */
function describeEvent(e: KeeperEvent): string | undefined {
  switch (e.type) {
    case 'keeper:repair-started':
      return `repairing ${e.fileId} (segments ${e.segments.join(', ')}${e.adopting > 0 ? `, taking ${e.adopting} deals an interrupted repair opened` : ''})`
    case 'keeper:deal-recorded':
      return `  deal ${e.deal.dealId} for segment ${e.deal.segmentIndex} shard ${e.deal.shardIndex} on …${e.deal.provider.slice(-8)}`
    case 'keeper:repaired':
      return `repaired ${e.fileId}: ${e.shards} shards rebuilt, now ${e.cid}`
    case 'keeper:market-event':
      return `${e.event.eventName}${e.event.dealId === undefined ? '' : ` of deal ${e.event.dealId}`} (provider ${e.event.provider}): checking ${e.event.fileIds.join(', ')}`
    case 'keeper:published':
      return `published the latest version of ${e.fileId} (${e.cid}) to ${e.accepted} of ${e.asked} providers`
    case 'keeper:publish-failed':
      return `publishing the latest version of ${e.fileId} failed (retried next check): ${e.error}`
    case 'keeper:repair-failed':
      return `repair of ${e.fileId} failed (retried next check): ${e.error}`
    case 'keeper:check-failed':
      return `check of ${e.fileId} failed (retried next check): ${e.error}`
    case 'keeper:extended':
      return `extended ${e.fileId} by ${e.periods} periods (escrow ${e.escrow} base units)`
    case 'keeper:extend-skipped':
      return `not extending ${e.fileId}: ${e.reason}`
    default:
      return undefined
  }
}

/**
 * `sherd keeper …`. Returns the exit code: 0 done, 1 a typed error (printed by `describeError`), 2 usage error.
 * `signal` stops `start` (Ctrl-C, SIGTERM): the keeper and its client stop cleanly and it exits 0.
 */
export async function keeperCommand(
  argv: string[],
  io: CliIo,
  signal: AbortSignal,
  deps: { describeError: (err: unknown, env: NodeJS.ProcessEnv) => string }
): Promise<number> {
  let values: ReturnType<typeof parseArgs<{ options: typeof OPTIONS; allowPositionals: true }>>['values']
  let positionals: string[]
  try {
    ;({ values, positionals } = parseArgs({ args: argv, options: OPTIONS, allowPositionals: true, strict: true }))
  } catch (err) {
    io.stderr.write(`error: ${(err as Error).message}\n\n${KEEPER_HELP}\n`)
    return 2
  }
  const [sub, ...args] = positionals
  if (values.help === true || sub === undefined || sub === 'help') {
    io[sub === undefined && values.help !== true ? 'stderr' : 'stdout'].write(KEEPER_HELP + '\n')
    return sub === undefined && values.help !== true ? 2 : 0
  }
  const out = (text: string): void => {
    io.stdout.write(text)
  }
  const dir = values.dir ?? defaultKeeperDir(io.env)
  try {
    const { KeeperStore, linkCid } = await import('../keeper/store.js')
    switch (sub) {
      case 'capability': {
        if (args.length !== 1) throw new KeeperUsageError('expected one full link: sherd keeper capability <link>')
        const { deriveRepairKey, formatRepairLink, parseLink } = await import('@sherd/protocol')
        const { cid, key } = parseLink(args[0]!)
        out(formatRepairLink(cid, await deriveRepairKey(key)) + '\n')
        return 0
      }
      case 'add': {
        if (args.length !== 1)
          throw new KeeperUsageError('expected one link: sherd keeper add <sherd://…#r=… or sherd://…#…>')
        const store = await KeeperStore.open(dir)
        const { file, added } = await store.add(args[0]!)
        if (values.json === true) out(JSON.stringify({ id: file.id, capability: file.capability, added, dir }) + '\n')
        else
          out(
            added
              ? `keeping ${file.id} (${file.capability === 'repair' ? 'repair capability' : 'full link'}) in ${dir}\n`
              : `already kept: ${file.id} (nothing changed)\n`
          )
        return 0
      }
      case 'remove': {
        if (args.length !== 1) throw new KeeperUsageError('expected the file: sherd keeper remove <cid|link>')
        const store = await KeeperStore.open(dir)
        const file = await store.remove(args[0]!)
        if (values.json === true) out(JSON.stringify({ id: file.id, removed: true }) + '\n')
        else
          out(
            `no longer keeping ${file.id}${file.intent === undefined ? '' : ' (a repair was under way: its deals run to their term)'}\n`
          )
        return 0
      }
      case 'list': {
        if (args.length !== 0) throw new KeeperUsageError('expected no arguments: sherd keeper list')
        const store = await KeeperStore.open(dir)
        const rows = store.files.map((f) => ({
          id: f.id,
          capability: f.capability,
          cid: linkCid(f.link),
          repairs: f.repairs,
          shardsRebuilt: f.shardsRebuilt,
          repairPending: f.intent !== undefined,
          ...(f.lastError === undefined ? {} : { lastError: f.lastError }),
          ...(values.links === true ? { link: f.link } : {})
        }))
        if (values.json === true) {
          out(JSON.stringify({ dir, extendSpent: store.state.extendSpent, files: rows }, null, 2) + '\n')
          return 0
        }
        if (rows.length === 0) {
          out(`no files kept in ${dir}: add one with sherd keeper add <link>\n`)
          return 0
        }
        for (const r of rows) {
          out(
            `${r.id}  ${r.capability === 'repair' ? 'repair' : 'full  '}  repairs ${r.repairs}  shards ${r.shardsRebuilt}${r.repairPending ? '  REPAIR UNDER WAY' : ''}\n`
          )
          if (r.cid !== r.id) out(`  now ${r.cid}\n`)
          if (r.link !== undefined) out(`  ${r.link}\n`)
          if (r.lastError !== undefined) out(`  last error: ${r.lastError}\n`)
        }
        return 0
      }
      case 'start': {
        if (args.length !== 0) throw new KeeperUsageError('expected no arguments: sherd keeper start [flags]')
        return await startKeeper(values, dir, io, signal)
      }
      default:
        throw new KeeperUsageError(`unknown keeper command "${sub}"`)
    }
  } catch (err) {
    if (err instanceof KeeperUsageError) {
      io.stderr.write(`error: ${err.message}\n\n${KEEPER_HELP}\n`)
      return 2
    }
    if (signal.aborted) {
      io.stderr.write('aborted\n')
      return 130
    }
    io.stderr.write(deps.describeError(err, io.env))
    return 1
  }
}

async function startKeeper(
  values: ReturnType<typeof parseArgs<{ options: typeof OPTIONS; allowPositionals: true }>>['values'],
  dir: string,
  io: CliIo,
  signal: AbortSignal
): Promise<number> {
  const env = io.env
  const rpcUrl = values['rpc-url'] ?? env.SHERD_RPC_URL
  const contract = values.contract ?? env.SHERD_CONTRACT
  const privateKey = values['private-key'] ?? env.SHERD_PRIVATE_KEY
  const bootstrap = values.bootstrap !== undefined ? splitList(values.bootstrap) : splitList(env.SHERD_BOOTSTRAP)
  const { ClientConfigError } = await import('../errors.js')
  if (rpcUrl === undefined || contract === undefined || privateKey === undefined) {
    throw new ClientConfigError(
      'the keeper pays for repairs: pass --rpc-url, --contract and --private-key (or SHERD_RPC_URL, SHERD_CONTRACT and SHERD_PRIVATE_KEY; the devnet prints them)'
    )
  }
  const intervalMs = count(values['interval-ms'], '--interval-ms', 100)
  const eventIntervalMs = count(values['event-interval-ms'], '--event-interval-ms', 100)
  const leadHours = values['extend-lead-hours'] === undefined ? undefined : Number(values['extend-lead-hours'])
  if (leadHours !== undefined && !(Number.isFinite(leadHours) && leadHours >= 0))
    throw new KeeperUsageError(`--extend-lead-hours must be a number ≥ 0, got "${values['extend-lead-hours']}"`)
  const extendPeriods = count(values['extend-periods'], '--extend-periods', 1)
  const periods = count(values.periods, '--periods', 1)
  const threshold = count(values.threshold, '--threshold', 1)
  const suspectAfterMs = count(values['suspect-after-ms'], '--suspect-after-ms', 1)
  const httpPort = count(values['http-port'], '--http-port')
  if (httpPort !== undefined && httpPort > 65_535)
    throw new KeeperUsageError(`--http-port must be at most 65535, got ${httpPort}`)
  const pauseAfter = env.SHERD_KEEPER_PAUSE_AFTER === '' ? undefined : env.SHERD_KEEPER_PAUSE_AFTER
  const [{ createClient }, { createKeeper, KEEPER_PAUSE_POINTS }, { DEFAULT_LIVENESS }, { createPublicClient, http }] =
    await Promise.all([
      import('../client.js'),
      import('../keeper/keeper.js'),
      import('../repair-policy.js'),
      import('viem')
    ])
  if (pauseAfter !== undefined && !(KEEPER_PAUSE_POINTS as readonly string[]).includes(pauseAfter)) {
    throw new KeeperUsageError(
      `SHERD_KEEPER_PAUSE_AFTER must be one of ${KEEPER_PAUSE_POINTS.join(', ')} (a test's fault-injection point), got "${pauseAfter}": unset it to run normally`
    )
  }
  const client = createClient({
    rpcUrl,
    contract,
    account: privateKey,
    bootstrap,
    ...(periods === undefined ? {} : { periods }),
    ...(values['score-file'] === undefined ? {} : { scoreFile: values['score-file'] })
  })
  await client.start({ signal })
  try {
    let budget = 0n
    if (values.budget !== undefined) {
      const { parseTokenAmount } = await import('@sherd/contracts')
      try {
        budget = parseTokenAmount(values.budget, await client.tokenInfo())
      } catch (err) {
        throw new KeeperUsageError(`--budget: ${(err as Error).message}`, { cause: err })
      }
    }
    const asJson = values.json === true
    const keeper = createKeeper(
      {
        dir,
        budget,
        ...(intervalMs === undefined ? {} : { pollIntervalMs: intervalMs }),
        ...(eventIntervalMs === undefined ? {} : { eventIntervalMs }),
        ...(leadHours === undefined ? {} : { extendLeadMs: Math.round(leadHours * 3_600_000) }),
        ...(extendPeriods === undefined ? {} : { extendPeriods }),
        ...(periods === undefined ? {} : { repairPeriods: periods }),
        ...(threshold === undefined ? {} : { threshold }),
        ...(suspectAfterMs === undefined ? {} : { liveness: { ...DEFAULT_LIVENESS, suspectAfterMs } }),
        ...(httpPort === undefined ? {} : { httpPort }),
        // Fault injection for tests (docs/keeper.md, "Fault injection"): print a marker line and hold the repair until
        // the process is killed (or stopped: the repair then fails and keeps its intent).
        ...(pauseAfter === undefined
          ? {}
          : {
              pause: async (point, detail, keeperSignal) => {
                const marker = {
                  type: 'keeper:paused',
                  at: point,
                  fileId: detail.fileId,
                  deals: detail.deals.map((d) => d.dealId)
                }
                io.stderr.write(
                  (asJson
                    ? JSON.stringify(marker)
                    : `paused at ${point} (SHERD_KEEPER_PAUSE_AFTER) in the repair of ${detail.fileId}, deals ${marker.deals.join(', ')}`) +
                    '\n'
                )
                await new Promise<never>((_resolve, reject) => {
                  if (keeperSignal.aborted) reject(keeperSignal.reason)
                  else
                    keeperSignal.addEventListener(
                      'abort',
                      () => {
                        reject(keeperSignal.reason)
                      },
                      { once: true }
                    )
                })
              }
            }),
        onEvent: (e) => {
          if (asJson) {
            io.stderr.write(JSON.stringify(e, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v)) + '\n')
            return
          }
          const line = describeEvent(e)
          if (line !== undefined) io.stderr.write(line + '\n')
        }
      },
      {
        client,
        market: { market: contract as `0x${string}`, publicClient: createPublicClient({ transport: http(rpcUrl) }) }
      }
    )
    await keeper.start()
    io.stderr.write(
      `keeper running: ${keeper.store!.files.length} files in ${dir}${keeper.httpUrl === undefined ? '' : `, ${keeper.httpUrl}/status`}; Ctrl-C stops it\n`
    )
    if (keeper.httpUrl !== undefined) io.stdout.write(`${keeper.httpUrl}\n`)
    await new Promise<void>((resolve) => {
      if (signal.aborted) resolve()
      else
        signal.addEventListener(
          'abort',
          () => {
            resolve()
          },
          { once: true }
        )
    })
    await keeper.stop()
    io.stderr.write('keeper stopped\n')
    return 0
  } finally {
    await client.stop()
  }
}

export const keeperCli = defineCommand({
  name: 'keeper',
  synopsis: 'keeper <command>',
  summary: 'the repair keeper: capability, add, remove, list, start (sherd keeper --help)',
  help: KEEPER_HELP,
  options: OPTIONS,
  // Its subcommands share one set of flags; it parses them itself (and prints KEEPER_HELP on a usage error).
  passThrough: true,
  async run({ args }, { io, signal }: CliContext) {
    return await keeperCommand(args, io, signal, { describeError })
  }
})
