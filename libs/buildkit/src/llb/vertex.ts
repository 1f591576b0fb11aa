import type { OpOptions, Platform } from './types.js';

/** A reference to output `index` of `vertex`. */
export interface Output {
  readonly vertex: Vertex;
  readonly index: number;
}

export interface MarshalContext {
  /** Used for source and exec ops that have no platform of their own. */
  readonly defaultPlatform: Platform | undefined;
}

/** What a vertex contributes to the Definition: the `pb.Op` body (minus inputs) and its metadata. */
export interface MarshaledOp {
  /** Fields of `pb.Op` other than `inputs`, in wire field names. */
  readonly op: Record<string, unknown>;
  readonly metadata: WireOpMetadata | undefined;
}

/** `pb.OpMetadata` in wire field names, with map keys already sorted. */
export interface WireOpMetadata {
  ignore_cache?: boolean;
  description?: Record<string, string>;
  caps?: Record<string, boolean>;
  progress_group?: { id: string; name: string; weak?: boolean };
}

/** One node of the LLB graph. Vertices are immutable; `inputs` are the op's `pb.Input`s in order. */
export interface Vertex {
  readonly kind: 'source' | 'exec' | 'file' | 'merge' | 'diff';
  readonly inputs: readonly Output[];
  marshal(ctx: MarshalContext): MarshaledOp;
}

/** Go sorts maps bytewise when marshaling deterministically; protobufjs keeps insertion order. */
export function sortedRecord<V>(rec: Readonly<Record<string, V>>): Record<string, V> {
  const out: Record<string, V> = {};
  for (const k of Object.keys(rec).sort(compareBytes)) out[k] = rec[k] as V;
  return out;
}

export function compareBytes(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a), Buffer.from(b));
}

function wirePlatform(p: Platform): Record<string, string> {
  const w: Record<string, string> = { Architecture: p.architecture, OS: p.os };
  if (p.variant) w['Variant'] = p.variant;
  return w;
}

export function opMetadata(o: OpOptions): WireOpMetadata | undefined {
  const md: WireOpMetadata = {};
  const description: Record<string, string> = { ...(o.description ?? {}) };
  if (o.customName !== undefined) description['llb.customname'] = o.customName;
  if (Object.keys(description).length > 0) md.description = sortedRecord(description);
  if (o.ignoreCache) md.ignore_cache = true;
  if (o.progressGroup) {
    md.progress_group = { id: o.progressGroup.id, name: o.progressGroup.name };
    if (o.progressGroup.weak) md.progress_group.weak = true;
  }
  return Object.keys(md).length > 0 ? md : undefined;
}

/** Go's `MarshalConstraints`: platform (when known) and an empty worker-constraints message. */
export function constraintsFields(
  platform: Platform | undefined,
  ctx: MarshalContext,
  withPlatform: boolean,
): Record<string, unknown> {
  const p = platform ?? ctx.defaultPlatform;
  const out: Record<string, unknown> = {};
  if (withPlatform && p) out['platform'] = wirePlatform(p);
  out['constraints'] = {};
  return out;
}

/** Adds the input if not present (by vertex identity and output index) and returns its position. */
export function inputIndex(inputs: Output[], o: Output): number {
  const i = inputs.findIndex((x) => x.vertex === o.vertex && x.index === o.index);
  if (i >= 0) return i;
  inputs.push(o);
  return inputs.length - 1;
}
