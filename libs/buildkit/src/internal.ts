/**
 * Wire codecs and session internals that tests and benches exercise directly but no other
 * package uses. Not a stable surface.
 */
export { bindLocalSources } from './client/rewrite.js';
export { unary } from './client/rpc.js';
export type { StatusMessage } from './progress/tracker.js';
export { control, decode, fsutil, pb } from './proto.js';
export { GoMode, goModeFromUnix, kindOf, unixPerm } from './session/fsmode.js';
export { PatternMatcher } from './session/patterns.js';
export { walk } from './session/walk.js';
export {
  DATA_HEADROOM,
  dataPacketInPlace,
  decodePacket,
  decodeStat,
  encodePacket,
  encodeStat,
  PacketType,
  type Stat,
} from './session/wire.js';
