export { Definition, type DecodedOp, digestOf, type MarshalOptions, marshal } from './definition.js';
export {
  type BindMount,
  bind,
  type CacheMount,
  type CacheSharing,
  cache,
  ExecOp,
  ExecState,
  type Mount,
  type RunOptions,
  type SecretEnv,
  type SecretMount,
  secret,
  type TmpfsMount,
  tmpfs,
} from './exec.js';
export {
  type Chown,
  type CopyOptions,
  copy,
  FileAction,
  type FileActionSpec,
  FileOp,
  type MkdirOptions,
  type MkfileOptions,
  mkdir,
  mkfile,
  type RmOptions,
  rm,
  type UserRef,
} from './file.js';
export { DiffOp, diff, MergeOp, merge } from './merge.js';
export { normalizeImageRef } from './reference.js';
export {
  type GitOptions,
  git,
  type HttpOptions,
  http,
  type ImageOptions,
  image,
  type LocalOptions,
  local,
  SourceOp,
} from './source.js';
export { type NetworkMode, type SecurityMode, State, type StateMeta, scratch } from './state.js';
export {
  formatPlatform,
  normalizeArch,
  type OpOptions,
  type Platform,
  type ProgressGroup,
  parsePlatform,
} from './types.js';
export type { MarshalContext, MarshaledOp, Output, Vertex, WireOpMetadata } from './vertex.js';
