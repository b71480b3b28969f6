// The provider dashboard: polls this node's /status and /history and redraws. No dependencies, nothing fetched from
// anywhere but the node that served the page, so it works offline.

const POLL_MS = 2_000
/** Bars in the chart: the newest this many periods (the node keeps more in /history). */
const CHART_PERIODS = 120
const SVG_NS = 'http://www.w3.org/2000/svg'

const $ = (id) => document.getElementById(id)

function setText(id, text) {
  const el = $(id)
  if (el.textContent !== text) el.textContent = text
  return el
}

/** Base units as tokens, as `sherd-node status` prints them: `1,000.5 SHERD`. */
function formatTokens(baseUnits, token) {
  if (baseUnits === undefined || baseUnits === null) return '–'
  if (token === undefined) return `${baseUnits} base units`
  let amount = BigInt(baseUnits)
  const negative = amount < 0n
  if (negative) amount = -amount
  const scale = 10n ** BigInt(token.decimals)
  const whole = (amount / scale).toString().replace(/\B(?=(\d{3})+(?!\d))/g, ',')
  const fraction =
    token.decimals === 0 ? '' : (amount % scale).toString().padStart(token.decimals, '0').replace(/0+$/, '')
  return `${negative ? '-' : ''}${whole}${fraction === '' ? '' : `.${fraction}`} ${token.symbol}`
}

function formatBytes(bytes) {
  if (!Number.isFinite(bytes)) return '–'
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB']
  let value = bytes
  let unit = 0
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024
    unit++
  }
  return `${unit === 0 ? value : value.toFixed(value < 10 ? 2 : 1)} ${units[unit]}`
}

function formatDuration(seconds) {
  const d = Math.floor(seconds / 86_400)
  const h = Math.floor((seconds % 86_400) / 3_600)
  const m = Math.floor((seconds % 3_600) / 60)
  const s = seconds % 60
  return d > 0 ? `${d} d ${h} h` : h > 0 ? `${h} h ${m} min` : m > 0 ? `${m} min ${s} s` : `${s} s`
}

function renderStatus(status) {
  const chain = status.chain ?? {}
  const token = chain.token
  setText('peer-id', status.peerId)
  setText('chain-address', status.chainAddress)
  setText(
    'market',
    chain.contractAddress === undefined
      ? 'none (not connected to a chain)'
      : `${chain.contractAddress} on chain ${chain.chainId ?? '?'}`
  )
  setText('registered', chain.registered === true ? 'yes' : 'no')
  setText('price', `${formatTokens(status.pricePerMiB, token)} per MiB per period`)
  setText('uptime', formatDuration(status.uptimeSeconds))
  setText('peers', String(status.peers))
  setText('transfers', String(status.activeTransfers))
  setText('block-period', chain.block === undefined ? '–' : `block ${chain.block}, period ${chain.period ?? '–'}`)

  const addresses = $('addresses')
  const addrText = status.multiaddrs.join('\n')
  if (addresses.dataset.addrs !== addrText) {
    addresses.dataset.addrs = addrText
    addresses.replaceChildren(
      ...status.multiaddrs.map((a) => {
        const li = document.createElement('li')
        li.textContent = a
        return li
      })
    )
  }

  const store = status.store
  const meter = $('used-meter')
  meter.max = Math.max(1, store.capacityBytes)
  meter.value = store.usedBytes + store.reservedBytes
  setText(
    'used-text',
    `${formatBytes(store.usedBytes)} of ${formatBytes(store.capacityBytes)} stored (${((100 * store.usedBytes) / Math.max(1, store.capacityBytes)).toFixed(1)} %)`
  )
  setText('used-bytes', formatBytes(store.usedBytes)).dataset.bytes = String(store.usedBytes)
  setText('reserved-bytes', formatBytes(store.reservedBytes))
  setText('free-bytes', formatBytes(store.freeBytes))
  setText('capacity-bytes', formatBytes(store.capacityBytes)).dataset.bytes = String(store.capacityBytes)
  setText('shards', `${store.shards} / ${store.manifests}`)

  for (const [id, value] of [
    ['earnings', chain.earnings],
    ['unclaimed', chain.unclaimed],
    ['withdrawn', chain.withdrawn],
    ['slashed', chain.slashed],
    ['reporter-rewards', chain.reporterRewards]
  ]) {
    setText(id, formatTokens(value, token)).dataset.baseUnits = value ?? ''
  }
  setText('periods-proven', String(chain.periodsProven)).dataset.count = String(chain.periodsProven)
  setText('periods-missed', String(chain.periodsMissed)).dataset.count = String(chain.periodsMissed)

  const states = Object.entries(chain.dealStates ?? {})
    .filter(([, n]) => n > 0)
    .map(([state, n]) => `${n} ${state}`)
  setText(
    'deal-states',
    `${chain.deals} deal${chain.deals === 1 ? '' : 's'}${states.length > 0 ? `: ${states.join(', ')}` : ''}`
  )
  renderDeals(chain.dealList ?? [], token)
}

function renderDeals(deals, token) {
  const rows = deals.map((deal) => {
    const tr = document.createElement('tr')
    tr.dataset.dealId = deal.id
    const cells = [
      deal.id,
      deal.state,
      formatBytes(deal.size),
      deal.startPeriod ?? '–',
      `${deal.periods} periods`,
      String(deal.periodsProven),
      String(deal.periodsMissed),
      formatTokens(deal.earned, token)
    ]
    cells.forEach((text, i) => {
      const cell = document.createElement(i === 0 ? 'th' : 'td')
      if (i === 0) cell.scope = 'row'
      cell.textContent = text
      cell.dataset.field = ['id', 'state', 'size', 'start', 'term', 'proven', 'missed', 'earned'][i]
      if (i === 1) cell.dataset.state = deal.state
      tr.append(cell)
    })
    return tr
  })
  $('deals').tBodies[0].replaceChildren(...rows)
  $('no-deals').hidden = deals.length > 0
}

function svg(name, attrs, children = []) {
  const el = document.createElementNS(SVG_NS, name)
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, String(v))
  el.append(...children)
  return el
}

/** Stacked bars: in each period, the deal-periods the node's totals gained as proven and as missed. */
function renderChart(points) {
  const width = 720
  const height = 180
  const left = 36
  const bottom = 20
  const bars = []
  for (let i = 1; i < points.length; i++) {
    bars.push({
      period: points[i].period,
      proven: Math.max(0, points[i].periodsProven - points[i - 1].periodsProven),
      missed: Math.max(0, points[i].periodsMissed - points[i - 1].periodsMissed)
    })
  }
  const shown = bars.slice(-CHART_PERIODS)
  const chart = $('chart')
  chart.dataset.periods = String(shown.length)
  chart.dataset.proven = String(shown.reduce((n, b) => n + b.proven, 0))
  if (shown.length === 0) {
    chart.replaceChildren(
      Object.assign(document.createElement('p'), { textContent: 'Waiting for the first proving period to end…' })
    )
    return
  }
  const top = Math.max(1, ...shown.map((b) => b.proven + b.missed))
  const plotW = width - left
  const plotH = height - bottom - 8
  const slot = plotW / Math.max(shown.length, 20)
  const y = (n) => 8 + plotH - (n / top) * plotH
  const children = [
    svg('line', { class: 'axis', x1: left, y1: 8 + plotH, x2: width, y2: 8 + plotH }),
    svg('line', { class: 'axis', x1: left, y1: 8, x2: left, y2: 8 + plotH }),
    svg('text', { x: left - 4, y: 12, 'text-anchor': 'end' }, [String(top)]),
    svg('text', { x: left - 4, y: 8 + plotH, 'text-anchor': 'end' }, ['0']),
    svg('text', { x: left, y: height - 4 }, [`period ${shown[0].period}`])
  ]
  // The newest period is labelled under its own bar, the oldest at the axis.
  if (shown.length > 1) {
    children.push(
      svg(
        'text',
        {
          x: left + (shown.length - 0.5) * slot,
          y: height - 4,
          'text-anchor': shown.length * slot > plotW * 0.8 ? 'end' : 'middle'
        },
        [`period ${shown.at(-1).period}`]
      )
    )
  }
  shown.forEach((b, i) => {
    const x = left + i * slot + slot * 0.1
    const w = Math.max(1, slot * 0.8)
    const label = svg('title', {}, [`period ${b.period}: ${b.proven} proven, ${b.missed} missed`])
    const group = svg('g', { 'data-period': b.period }, [label])
    if (b.proven > 0)
      group.append(svg('rect', { class: 'proven', x, width: w, y: y(b.proven), height: y(0) - y(b.proven) }))
    if (b.missed > 0)
      group.append(
        svg('rect', {
          class: 'missed',
          x,
          width: w,
          y: y(b.proven + b.missed),
          height: y(b.proven) - y(b.proven + b.missed)
        })
      )
    children.push(group)
  })
  chart.replaceChildren(svg('svg', { viewBox: `0 0 ${width} ${height}`, 'aria-hidden': 'true' }, children))
}

function renderErrors(errors) {
  $('errors').replaceChildren(
    ...errors.map((e) => {
      const li = document.createElement('li')
      const time = document.createElement('time')
      time.dateTime = new Date(e.atMs).toISOString()
      time.textContent = new Date(e.atMs).toLocaleString()
      li.append(time, e.message)
      return li
    })
  )
  $('no-errors').hidden = errors.length > 0
}

async function getJson(path) {
  const res = await fetch(path, { cache: 'no-store', signal: AbortSignal.timeout(POLL_MS * 3) })
  if (!res.ok) throw new Error(`${path} answered HTTP ${res.status}`)
  return await res.json()
}

async function refresh() {
  const connection = $('connection')
  try {
    const [status, history] = await Promise.all([getJson('/status'), getJson('/history')])
    renderStatus(status)
    renderChart(history.points)
    renderErrors(history.errors)
    connection.dataset.state = 'live'
    connection.textContent = `Live: updated ${new Date().toLocaleTimeString()}`
  } catch (err) {
    connection.dataset.state = 'error'
    connection.textContent = `Cannot reach the node (${err.message}); showing what it last said, retrying every ${POLL_MS / 1000} s`
  }
  document.body.dataset.refreshes = String(Number(document.body.dataset.refreshes ?? 0) + 1)
}

async function loop() {
  $('live').hidden = false
  $('connection').hidden = false
  $('poll-seconds').textContent = String(POLL_MS / 1000)
  // One request at a time: a slow node is not buried under overlapping polls.
  for (;;) {
    await refresh()
    await new Promise((resolve) => setTimeout(resolve, POLL_MS))
  }
}

void loop()
