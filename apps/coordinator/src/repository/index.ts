export { CachedIndexStore } from './cached-index.js';
export { filesEqual, sha256File } from './files-equal.js';
export { LocalRepositoryStore } from './local-store.js';
export { ObjectRepositoryStore } from './object-store.js';
export {
  decodePublisherRecord,
  fileName,
  type IndexLock,
  IndexLockTimeoutError,
  type IndexRecord,
  IndexPublisher,
  type PublisherRecord,
  type PublishRequest,
  type PublishResult,
} from './publisher.js';
export { serveRepository } from './server.js';
export { checkName, INDEX_NAME, RepositoryError, type RepositoryStore } from './store.js';
