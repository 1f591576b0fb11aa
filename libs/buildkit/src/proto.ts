import { fileURLToPath } from 'node:url';
import Long from 'long';
import protobuf from 'protobufjs';

// protobufjs finds `long` through a CommonJS require that some loaders (vitest, bundlers) hide;
// without it int64 values above 2^53 (nanosecond timestamps) silently lose precision.
if (!protobuf.util.Long) {
  protobuf.util.Long = Long;
  protobuf.configure();
}

/**
 * The hand-written .proto subset, loaded once. protobufjs 8 writes fields in number order and
 * omits proto3 zero values, which together with sorted map keys gives Go's canonical bytes.
 */
const protoDir = fileURLToPath(new URL('../proto/', import.meta.url));

function load(): protobuf.Root {
  const root = new protobuf.Root();
  const builtin = root.resolvePath;
  root.resolvePath = (origin, target) => {
    if (target.startsWith('google/protobuf/')) return builtin(origin, target);
    return protoDir + target.replace(/^.*\//, '');
  };
  root.loadSync(
    ['ops.proto', 'worker.proto', 'control.proto', 'fsutil.proto', 'secrets.proto', 'health.proto'],
    {
      keepCase: true,
    },
  );
  root.resolveAll();
  return root;
}

const root: protobuf.Root = load();

function type(name: string): protobuf.Type {
  return root.lookupType(name);
}

export const pb = {
  Op: type('pb.Op'),
  OpMetadata: type('pb.OpMetadata'),
  Definition: type('pb.Definition'),
} as const;

export const control = {
  SolveRequest: type('moby.buildkit.v1.SolveRequest'),
  SolveResponse: type('moby.buildkit.v1.SolveResponse'),
  StatusRequest: type('moby.buildkit.v1.StatusRequest'),
  StatusResponse: type('moby.buildkit.v1.StatusResponse'),
  BytesMessage: type('moby.buildkit.v1.BytesMessage'),
  ListWorkersRequest: type('moby.buildkit.v1.ListWorkersRequest'),
  ListWorkersResponse: type('moby.buildkit.v1.ListWorkersResponse'),
  InfoRequest: type('moby.buildkit.v1.InfoRequest'),
  InfoResponse: type('moby.buildkit.v1.InfoResponse'),
  DiskUsageRequest: type('moby.buildkit.v1.DiskUsageRequest'),
  DiskUsageResponse: type('moby.buildkit.v1.DiskUsageResponse'),
  PruneRequest: type('moby.buildkit.v1.PruneRequest'),
  UsageRecord: type('moby.buildkit.v1.UsageRecord'),
} as const;

export const fsutil = {
  Packet: type('fsutil.types.Packet'),
  Stat: type('fsutil.types.Stat'),
} as const;

export const secrets = {
  GetSecretRequest: type('moby.buildkit.secrets.v1.GetSecretRequest'),
  GetSecretResponse: type('moby.buildkit.secrets.v1.GetSecretResponse'),
} as const;

/** An int64 beyond 2^53 in the `{low, high}` form protobufjs accepts without a Long library. */
export function int64(v: bigint): { low: number; high: number; unsigned: boolean } {
  const u = BigInt.asUintN(64, v);
  return { low: Number(u & 0xffffffffn) | 0, high: Number(u >> 32n) | 0, unsigned: false };
}

/** Encode a plain object (already in wire field names) after checking it against the type. */
export function encode(t: protobuf.Type, value: Record<string, unknown>): Uint8Array {
  const err = t.verify(value);
  if (err) throw new Error(`${t.fullName}: ${err}`);
  return t.encode(t.fromObject(value)).finish();
}

export interface DecodeOptions {
  /** int64 fields as strings (exact) rather than numbers. */
  longsAsString?: boolean;
}

/** Decode into a plain object with defaults filled in, so absent zero fields read as 0/""/false. */
export function decode<T>(t: protobuf.Type, bytes: Uint8Array, o: DecodeOptions = {}): T {
  return t.toObject(t.decode(bytes), {
    defaults: true,
    longs: o.longsAsString ? String : Number,
    enums: Number,
    bytes: Buffer,
    arrays: true,
    objects: true,
    oneofs: true,
  }) as T;
}
