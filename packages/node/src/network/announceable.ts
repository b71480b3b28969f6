import { MAX_ANNOUNCED_ADDRS } from '@sherd/protocol'

/**
 * At most MAX_ANNOUNCED_ADDRS addresses, taken in turn from TCP (and anything else) and from WebSockets, in order: a
 * host listening on 0.0.0.0 gets one address per interface and transport, and a plain cut after the first 16 could
 * leave the WebSocket ones, all a browser can dial, out of the announcement.
 */
export function announceable(addrs: readonly string[]): string[] {
  if (addrs.length <= MAX_ANNOUNCED_ADDRS) return [...addrs]
  const isWs = (a: string): boolean => /\/(ws|wss)(\/|$)/.test(a)
  const groups = [addrs.filter((a) => !isWs(a)), addrs.filter(isWs)]
  const out: string[] = []
  for (let i = 0; out.length < MAX_ANNOUNCED_ADDRS; i++) {
    for (const group of groups) if (i < group.length && out.length < MAX_ANNOUNCED_ADDRS) out.push(group[i]!)
  }
  return out
}
