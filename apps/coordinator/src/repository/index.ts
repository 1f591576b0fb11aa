export { CachedIndexStore } from './cached-index.js';
export { LocalRepositoryStore } from './local-store.js';
export { ObjectRepositoryStore } from './object-store.js';
export { decodePublisherRecord, IndexPublisher, type PublisherRecord } from './publisher.js';
export { serveRepository } from './server.js';
export { RepositoryError, type RepositoryStore } from './store.js';
