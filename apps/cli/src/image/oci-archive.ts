/**
 * An OCI image-layout tarball (what BuildKit's `oci` exporter writes): read its entries, and
 * write a new one whose config and manifest are ours, the layers BuildKit's. BuildKit's exporter
 * takes the image config only from a frontend's result, so a plain LLB solve gets a default one
 * (the daemon's own platform, no entrypoint); this is where the image gets its real config.
 * Every byte written is a function of the inputs: sorted entries, fixed header fields.
 */
import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { open, rename, rm } from 'node:fs/promises';
import { once } from 'node:events';
import { CliError, EXIT } from '../exit-codes.js';

const BLOCK = 512;
/** An OCI layout holds a handful of small JSON files and the layers; more entries is not one. */
const MAX_ENTRIES = 10_000;
const MAX_JSON = 4 * 1024 * 1024;

interface TarEntry {
  readonly name: string;
  readonly offset: number;
  readonly size: number;
}

interface Descriptor {
  readonly mediaType: string;
  readonly digest: string;
  readonly size: number;
  readonly annotations?: Readonly<Record<string, string>>;
  readonly platform?: { readonly architecture: string; readonly os: string; readonly variant?: string };
}

interface Manifest {
  readonly schemaVersion: number;
  readonly mediaType?: string;
  readonly config: Descriptor;
  readonly layers: readonly Descriptor[];
}

function archiveError(path: string, why: string): CliError {
  return new CliError(`${path}: not an OCI archive BuildKit wrote (${why})`, EXIT.failed);
}

function field(b: Buffer, off: number, len: number): string {
  const s = b.subarray(off, off + len);
  const nul = s.indexOf(0);
  return s.subarray(0, nul < 0 ? len : nul).toString('utf8');
}

/** The regular files of an uncompressed ustar archive, by name (BuildKit writes short names). */
async function listEntries(path: string): Promise<Map<string, TarEntry>> {
  const fh = await open(path, 'r');
  const out = new Map<string, TarEntry>();
  try {
    const { size: total } = await fh.stat();
    const h = Buffer.alloc(BLOCK);
    let off = 0;
    while (off + BLOCK <= total) {
      await fh.read(h, 0, BLOCK, off);
      if (h.every((x) => x === 0)) break;
      const name = (field(h, 345, 155) ? `${field(h, 345, 155)}/` : '') + field(h, 0, 100);
      const size = Number.parseInt(field(h, 124, 12).trim() || '0', 8);
      const type = String.fromCharCode(h[156] ?? 0);
      if (!Number.isSafeInteger(size) || size < 0) throw archiveError(path, `bad size for ${name}`);
      if (type === '0' || type === '\0')
        out.set(name.replace(/^\.\//, ''), { name, offset: off + BLOCK, size });
      else if (type !== '5')
        throw archiveError(path, `unexpected entry type ${JSON.stringify(type)} for ${name}`);
      if (out.size > MAX_ENTRIES) throw archiveError(path, `more than ${MAX_ENTRIES} entries`);
      off += BLOCK + Math.ceil(size / BLOCK) * BLOCK;
    }
  } finally {
    await fh.close();
  }
  return out;
}

async function readJson<T>(path: string, e: TarEntry | undefined, what: string): Promise<T> {
  if (!e) throw archiveError(path, `no ${what}`);
  if (e.size > MAX_JSON) throw archiveError(path, `${what} is ${e.size} bytes`);
  const fh = await open(path, 'r');
  try {
    const b = Buffer.alloc(e.size);
    await fh.read(b, 0, e.size, e.offset);
    return JSON.parse(b.toString('utf8')) as T;
  } finally {
    await fh.close();
  }
}

const blobName = (digest: string) => `blobs/${digest.replace(':', '/')}`;

/** The image BuildKit exported: its layers and its (default) config. */
export interface ExportedImage {
  readonly path: string;
  readonly entries: ReadonlyMap<string, TarEntry>;
  readonly layers: readonly Descriptor[];
  readonly config: Readonly<Record<string, unknown>>;
}

export async function readExportedImage(path: string): Promise<ExportedImage> {
  const entries = await listEntries(path);
  const index = await readJson<{ manifests?: Descriptor[] }>(path, entries.get('index.json'), 'index.json');
  const images = (index.manifests ?? []).filter((m) => m.mediaType.endsWith('image.manifest.v1+json'));
  if (images.length !== 1) throw archiveError(path, `${images.length} image manifests, expected 1`);
  const manifest = await readJson<Manifest>(path, entries.get(blobName(images[0]!.digest)), 'manifest');
  const config = await readJson<Record<string, unknown>>(
    path,
    entries.get(blobName(manifest.config.digest)),
    'image config',
  );
  for (const l of manifest.layers)
    if (!entries.has(blobName(l.digest))) throw archiveError(path, `layer ${l.digest} missing`);
  return { path, entries, layers: manifest.layers, config };
}

/** JSON with keys sorted at every level: the same value is always the same bytes. */
function canonicalJson(v: unknown): string {
  return JSON.stringify(v, (_k, x: unknown) =>
    x && typeof x === 'object' && !Array.isArray(x)
      ? Object.fromEntries(Object.entries(x as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : 1)))
      : x,
  );
}

function descriptorOf(mediaType: string, data: Buffer, extra: Partial<Descriptor> = {}): Descriptor {
  return {
    mediaType,
    digest: `sha256:${createHash('sha256').update(data).digest('hex')}`,
    size: data.length,
    ...extra,
  };
}

function header(name: string, size: number, type: '0' | '5', mtime: number): Buffer {
  const b = Buffer.alloc(BLOCK);
  const oct = (off: number, len: number, v: number) =>
    b.write(`${v.toString(8).padStart(len - 1, '0')}\0`, off, len, 'ascii');
  b.write(name, 0, 100, 'utf8');
  oct(100, 8, type === '5' ? 0o755 : 0o644);
  oct(108, 8, 0);
  oct(116, 8, 0);
  oct(124, 12, size);
  oct(136, 12, mtime);
  b.fill(0x20, 148, 156);
  b.write(type, 156, 1, 'ascii');
  b.write('ustar\u000000', 257, 8, 'ascii');
  let sum = 0;
  for (const x of b) sum += x;
  b.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 8, 'ascii');
  return b;
}

/** The image to write: BuildKit's layers with this config, named `ref` in the index. */
export interface ImageSpec {
  readonly layers: readonly Descriptor[];
  readonly config: Readonly<Record<string, unknown>>;
  readonly platform: { readonly architecture: string; readonly os: string; readonly variant?: string };
  /** `name:tag`; `podman load` and `docker load` name the image after it. */
  readonly ref: string;
  readonly mtime: number;
}

export interface WrittenImage {
  /** The manifest digest: what a registry and `podman images --digests` show. */
  readonly digest: string;
  readonly size: number;
}

/** Writes `spec` as an OCI archive at `dest` (temp file + rename), copying the layers from `from`. */
export async function writeImageArchive(
  from: ExportedImage,
  spec: ImageSpec,
  dest: string,
): Promise<WrittenImage> {
  const config = Buffer.from(canonicalJson(spec.config));
  const configDesc = descriptorOf('application/vnd.oci.image.config.v1+json', config);
  const manifest = Buffer.from(
    canonicalJson({
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      config: configDesc,
      layers: spec.layers,
    }),
  );
  const manifestDesc = descriptorOf('application/vnd.oci.image.manifest.v1+json', manifest, {
    platform: spec.platform,
    annotations: {
      'io.containerd.image.name': spec.ref,
      'org.opencontainers.image.ref.name': spec.ref.slice(spec.ref.lastIndexOf(':') + 1),
    },
  });
  const index = Buffer.from(
    canonicalJson({
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.index.v1+json',
      manifests: [manifestDesc],
    }),
  );
  const small = new Map<string, Buffer>([
    ['oci-layout', Buffer.from('{"imageLayoutVersion":"1.0.0"}')],
    ['index.json', index],
    [blobName(configDesc.digest), config],
    [blobName(manifestDesc.digest), manifest],
  ]);
  const layerNames = spec.layers.map((l) => blobName(l.digest));
  const files = [...new Set([...small.keys(), ...layerNames])].sort();
  const tmp = `${dest}.tmp-${process.pid}`;
  const out = createWriteStream(tmp);
  let written = 0;
  const put = async (b: Buffer) => {
    written += b.length;
    if (!out.write(b)) await once(out, 'drain');
  };
  try {
    for (const d of ['blobs/', 'blobs/sha256/']) await put(header(d, 0, '5', spec.mtime));
    for (const name of files) {
      const data = small.get(name);
      const entry = from.entries.get(name);
      const size = data ? data.length : (entry?.size ?? -1);
      if (size < 0) throw archiveError(from.path, `no blob ${name}`);
      await put(header(name, size, '0', spec.mtime));
      if (data) await put(data);
      else if (entry && entry.size > 0)
        for await (const chunk of createReadStream(from.path, {
          start: entry.offset,
          end: entry.offset + entry.size - 1,
        }))
          await put(chunk as Buffer);
      if (size % BLOCK) await put(Buffer.alloc(BLOCK - (size % BLOCK)));
    }
    await put(Buffer.alloc(2 * BLOCK));
    out.end();
    await once(out, 'finish');
    await rename(tmp, dest);
  } catch (e) {
    out.destroy();
    await rm(tmp, { force: true });
    throw e;
  }
  return { digest: manifestDesc.digest, size: written };
}
