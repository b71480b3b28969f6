// `sherd-node status`: the running node's status, from its HTTP API.
import { resolve } from 'node:path'
import { ConfigError, NodeUnreachableError } from '../errors.js'
import { readFileConfig } from '../identity.js'
import { defineCommand } from './command.js'
import { COMMON_OPTIONS, defaultDataDir } from './flags.js'

/** `status` asks the local HTTP API; it answers at once or not at all. */
const STATUS_TIMEOUT_MS = 5_000

export const statusCommand = defineCommand({
  name: 'status',
  summary: "print the running node's status (asks its HTTP API)",
  help: `Usage: sherd-node status [--data-dir <dir> | --url <http://127.0.0.1:port>]

Prints the JSON status of the node running on that data dir (its HTTP API).`,
  options: { ...COMMON_OPTIONS, url: { type: 'string' } },
  async run({ values: v }) {
    let url = v.url
    if (url === undefined) {
      const config = await readFileConfig(resolve(v['data-dir'] ?? defaultDataDir()))
      if (config.httpPort === 0)
        throw new ConfigError(
          "this node's config uses --http-port 0 (any free port): pass --url with the port from its ready line"
        )
      url = `http://${config.httpHost}:${config.httpPort}`
    }
    let res: Response
    try {
      res = await fetch(`${url.replace(/\/$/, '')}/status`, { signal: AbortSignal.timeout(STATUS_TIMEOUT_MS) })
    } catch (err) {
      throw new NodeUnreachableError(
        `no node answers at ${url} (${(err as Error).message}): is \`sherd-node start\` running for this data dir?`,
        { cause: err }
      )
    }
    if (!res.ok)
      throw new NodeUnreachableError(
        `${url}/status answered HTTP ${res.status}: is that port this node's status API? pass --url with the port from its ready line`
      )
    // The API has every amount in base units (for programs) and, beside them, in tokens (`chain.amounts`) for people.
    const status = (await res.json()) as unknown
    process.stdout.write(JSON.stringify(status, null, 2) + '\n')
    return 0
  }
})
