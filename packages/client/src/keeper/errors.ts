import { ClientError } from '../errors.js'

/** The keeper's store is unreadable, of another format, or asked for something it does not hold. */
export class KeeperStoreError extends ClientError {
  override name = 'KeeperStoreError'
}

/** The keeper was configured wrongly (a bad interval, budget or port). */
export class KeeperConfigError extends ClientError {
  override name = 'KeeperConfigError'
}
