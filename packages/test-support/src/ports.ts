import { freePorts } from '@sherd/contracts'

export { freePorts }

/** A TCP port on 127.0.0.1 that was free a moment ago (for a listener whose address a test must know in advance). */
export async function freePort(): Promise<number> {
  const [port] = await freePorts(1)
  if (port === undefined) throw new Error('freePorts(1) returned no port')
  return port
}
