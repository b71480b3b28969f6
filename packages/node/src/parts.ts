/** A long-lived part of the node, as libp2p's `Startable`: start may be async, stop must be safe to call after a failed start. */
export interface NodePart {
  start: () => Promise<void> | void
  stop: () => Promise<void> | void
}

/**
 * The node's one parts list: `start()` starts them in order, `stop()` stops in the reverse order every part whose
 * start was called. A part whose start threw is stopped too (it may have half-started: a listener bound, a
 * database open), and so is every part before it, before the error is rethrown: a failed start leaves nothing
 * running. Stop errors are handed to `onStopError` and the remaining parts still stop.
 */
export class NodeParts {
  private readonly parts: readonly NodePart[]
  private readonly onStopError: (err: unknown, part: NodePart) => void
  private started: NodePart[] = []

  constructor(parts: ReadonlyArray<NodePart | undefined>, onStopError: (err: unknown, part: NodePart) => void) {
    this.parts = parts.filter((p): p is NodePart => p !== undefined)
    this.onStopError = onStopError
  }

  async start(): Promise<void> {
    if (this.started.length > 0) return
    for (const part of this.parts) {
      this.started.push(part)
      try {
        await part.start()
      } catch (err) {
        await this.stop()
        throw err
      }
    }
  }

  async stop(): Promise<void> {
    const order = this.started.reverse()
    this.started = []
    for (const part of order) {
      try {
        await part.stop()
      } catch (err) {
        this.onStopError(err, part)
      }
    }
  }
}
