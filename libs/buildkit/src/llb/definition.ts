import { createHash } from 'node:crypto';
import { decode, encode, pb } from '../proto.js';
import type { State } from './state.js';
import type { Platform } from './types.js';
import { type MarshalContext, sortedRecord, type Vertex, type WireOpMetadata } from './vertex.js';

export function digestOf(bytes: Uint8Array): string {
  return `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
}

/**
 * A marshaled LLB graph (`pb.Definition`): op bytes in dependency order, each addressed by the
 * sha256 of exactly those bytes, ending with the terminal op that names the result.
 */
export class Definition {
  /** Marshaled `pb.Op`s; the last one is the terminal op. */
  readonly def: readonly Uint8Array[];
  /** Op metadata keyed by op digest (keys sorted). */
  readonly metadata: Readonly<Record<string, WireOpMetadata>>;
  /** Digest of the op that produces the result. */
  readonly digest: string;
  /** Output index of that op that is the result. */
  readonly outputIndex: number;

  constructor(
    def: readonly Uint8Array[],
    metadata: Readonly<Record<string, WireOpMetadata>>,
    digest: string,
    outputIndex: number,
  ) {
    this.def = def;
    this.metadata = metadata;
    this.digest = digest;
    this.outputIndex = outputIndex;
  }

  /** Digests of every op in `def` order (the terminal op last). */
  digests(): string[] {
    return this.def.map(digestOf);
  }

  /** The `pb.Definition` message as protobufjs input. */
  toWire(): Record<string, unknown> {
    return { def: [...this.def], metadata: this.metadata };
  }

  /** The encoded `pb.Definition` (what `buildctl debug dump-llb` reads). */
  toBytes(): Uint8Array {
    return encode(pb.Definition, this.toWire());
  }

  static fromBytes(bytes: Uint8Array): Definition {
    const d = decode<{ def: Uint8Array[]; metadata: Record<string, WireOpMetadata> }>(pb.Definition, bytes);
    if (d.def.length < 2) throw new Error('definition: needs at least one op and the terminal op');
    const term = decode<DecodedOp['op']>(pb.Op, d.def[d.def.length - 1] as Uint8Array);
    const inp = term.inputs[0];
    if (!inp) throw new Error('definition: the terminal op has no input');
    return new Definition(d.def, sortedRecord(d.metadata), inp.digest, Number(inp.index));
  }

  /** Decoded ops with their digests and metadata, for inspection and golden tests. */
  ops(): DecodedOp[] {
    return this.def.map((bytes) => {
      const digest = digestOf(bytes);
      const op = decode<DecodedOp['op']>(pb.Op, bytes);
      const md = this.metadata[digest];
      return md ? { digest, op, metadata: md } : { digest, op };
    });
  }
}

export interface DecodedOp {
  readonly digest: string;
  readonly op: {
    inputs: { digest: string; index: number }[];
    op?: 'exec' | 'source' | 'file' | 'merge' | 'diff';
    [field: string]: unknown;
  };
  readonly metadata?: WireOpMetadata;
}

export interface MarshalOptions {
  /** Platform for source and exec ops that have none (default: the daemon's). */
  readonly platform?: Platform;
}

/**
 * Serializes the graph behind `state`: inputs before their consumers (post-order DFS), each op
 * once. Pure and deterministic: the same graph gives the same bytes in every process.
 */
export function marshal(state: State, opts: MarshalOptions = {}): Definition {
  const out = state.output();
  if (!out) throw new Error('marshal: the state is scratch (an empty filesystem); there is nothing to solve');
  const ctx: MarshalContext = { defaultPlatform: opts.platform };
  const def: Uint8Array[] = [];
  const seen = new Set<string>();
  const metadata: Record<string, WireOpMetadata> = {};
  const memo = new Map<Vertex, string>();

  const visit = (v: Vertex, path: Set<Vertex>): string => {
    const known = memo.get(v);
    if (known) return known;
    if (path.has(v)) throw new Error('marshal: the graph has a cycle');
    path.add(v);
    const inputs = v.inputs.map((o) => {
      const digest = visit(o.vertex, path);
      return o.index === 0 ? { digest } : { digest, index: o.index };
    });
    path.delete(v);
    const m = v.marshal(ctx);
    const bytes = encode(pb.Op, inputs.length > 0 ? { inputs, ...m.op } : m.op);
    const digest = digestOf(bytes);
    if (!seen.has(digest)) {
      seen.add(digest);
      def.push(bytes);
      if (m.metadata) metadata[digest] = m.metadata;
    }
    memo.set(v, digest);
    return digest;
  };

  const result = visit(out.vertex, new Set());
  const terminal = encode(pb.Op, {
    inputs: [out.index === 0 ? { digest: result } : { digest: result, index: out.index }],
  });
  const terminalDigest = digestOf(terminal);
  def.push(terminal);
  metadata[terminalDigest] = { caps: { constraints: true, platform: true } };
  return new Definition(def, sortedRecord(metadata), result, out.index);
}
