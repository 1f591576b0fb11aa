import { Definition, digestOf } from '../llb/definition.js';
import { sortedRecord, type WireOpMetadata } from '../llb/vertex.js';
import { pb } from '../proto.js';

interface OpMessage {
  inputs?: { digest: string }[];
  source?: { identifier: string; attrs?: Record<string, string> };
}

/**
 * Binds every `local://` source that names no session to `sessionId` (`local.session`), so that
 * concurrent solves of identical graphs can never share one local-source vertex (the solver
 * merges equal digests across jobs) and read each other's files. Ops downstream get new digests;
 * `toOriginal` maps them back so progress is reported in the caller's digests.
 */
export function bindLocalSources(
  def: Definition,
  sessionId: string,
): { def: Definition; toOriginal: ReadonlyMap<string, string> } {
  const toOriginal = new Map<string, string>();
  const decoded = def.def.map((bytes) => ({
    bytes,
    digest: digestOf(bytes),
    msg: pb.Op.decode(bytes) as OpMessage,
  }));
  const needsBinding = decoded.some(
    (o) => o.msg.source?.identifier.startsWith('local://') && !o.msg.source.attrs?.['local.session'],
  );
  if (!needsBinding) return { def, toOriginal };

  const byDigest = new Map(decoded.map((o) => [o.digest, o]));
  const renamed = new Map<string, string>();
  const out = new Map<string, Uint8Array>();
  const visiting = new Set<string>();

  const visit = (digest: string): string => {
    const done = renamed.get(digest);
    if (done) return done;
    const o = byDigest.get(digest);
    if (!o) throw new Error(`definition: missing op ${digest}`);
    if (visiting.has(digest)) throw new Error('definition: the graph has a cycle');
    visiting.add(digest);
    let changed = false;
    for (const inp of o.msg.inputs ?? []) {
      const nd = visit(inp.digest);
      if (nd !== inp.digest) {
        inp.digest = nd;
        changed = true;
      }
    }
    visiting.delete(digest);
    const src = o.msg.source;
    if (src?.identifier.startsWith('local://') && !src.attrs?.['local.session']) {
      src.attrs = sortedRecord({ ...(src.attrs ?? {}), 'local.session': sessionId });
      changed = true;
    }
    const bytes = changed ? pb.Op.encode(pb.Op.fromObject(o.msg)).finish() : o.bytes;
    const nd = changed ? digestOf(bytes) : digest;
    renamed.set(digest, nd);
    if (nd !== digest) toOriginal.set(nd, digest);
    out.set(nd, bytes);
    return nd;
  };

  const terminal = decoded[decoded.length - 1];
  if (!terminal) throw new Error('definition: empty');
  const order: string[] = [];
  for (const o of decoded.slice(0, -1)) order.push(visit(o.digest));
  const termInputs = (terminal.msg.inputs ?? []).map((i) => ({ ...i, digest: visit(i.digest) }));
  const termBytes = pb.Op.encode(pb.Op.fromObject({ ...terminal.msg, inputs: termInputs })).finish();
  const termDigest = digestOf(termBytes);
  toOriginal.set(termDigest, terminal.digest);

  const metadata: Record<string, WireOpMetadata> = {};
  for (const [d, md] of Object.entries(def.metadata)) {
    const nd = d === terminal.digest ? termDigest : (renamed.get(d) ?? d);
    metadata[nd] = md;
  }
  const defs = [...new Set(order)].map((d) => out.get(d) as Uint8Array);
  defs.push(termBytes);
  return {
    def: new Definition(defs, sortedRecord(metadata), renamed.get(def.digest) ?? def.digest, def.outputIndex),
    toOriginal,
  };
}

/** Names of the `local://` sources a Definition reads (what `localDirs` must provide). */
export function localSourceNames(def: Definition): string[] {
  const names = new Set<string>();
  for (const bytes of def.def) {
    const id = (pb.Op.decode(bytes) as OpMessage).source?.identifier;
    if (id?.startsWith('local://')) names.add(id.slice('local://'.length));
  }
  return [...names].sort();
}
