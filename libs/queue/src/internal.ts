/** State-store key encoding and the CAS retry helper, which tests exercise directly. Not a stable surface. */
export { decodeKey, encodeKey, modify } from './state-store.js';
