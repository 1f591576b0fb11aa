import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { Readable } from 'node:stream';
import type { ReadableStream as WebReadableStream } from 'node:stream/web';
import { type ObjectStore, Objm } from '@nats-io/obj';
import type { NatsConnection } from '@nats-io/transport-node';
import { checkName, INDEX_NAME, RepositoryError, type RepositoryStore } from './store.js';

/**
 * The file's SHA-256 as the object store writes an object's digest: base64url *with* its `=`
 * padding (Node's `base64url` leaves the padding out, and an existing package then never
 * compared equal: the re-publish after a coordinator died between the package and the index
 * was refused as other content).
 */
async function sha256Base64Url(path: string): Promise<string> {
  const h = createHash('sha256');
  for await (const chunk of createReadStream(path)) h.update(chunk as Buffer);
  return h.digest('base64').replaceAll('+', '-').replaceAll('/', '_');
}

/**
 * A repository in a JetStream Object Store bucket (the distributed default): objects named
 * `<arch>/<file>`. An object becomes visible only when its upload completed.
 */
export class ObjectRepositoryStore implements RepositoryStore {
  readonly description: string;
  private constructor(
    readonly bucket: string,
    readonly os: ObjectStore,
  ) {
    this.description = `nats object store ${bucket}`;
  }

  static async open(nc: NatsConnection, bucket: string): Promise<ObjectRepositoryStore> {
    return new ObjectRepositoryStore(bucket, await new Objm(nc).create(bucket));
  }

  async putApk(arch: string, filename: string, source: string): Promise<void> {
    checkName(arch, filename);
    const name = `${arch}/${filename}`;
    const existing = await this.os.info(name);
    if (existing && !existing.deleted) {
      if (existing.digest === `SHA-256=${await sha256Base64Url(source)}`) return;
      throw new RepositoryError(
        'published already with other content (packages are never overwritten)',
        arch,
        filename,
      );
    }
    const web = Readable.toWeb(createReadStream(source)) as unknown as ReadableStream<Uint8Array>;
    await this.os.put({ name }, web);
  }

  async putIndex(arch: string, bytes: Buffer): Promise<void> {
    checkName(arch, INDEX_NAME);
    await this.os.putBlob({ name: `${arch}/${INDEX_NAME}` }, new Uint8Array(bytes));
  }

  async readIndex(arch: string): Promise<Buffer | undefined> {
    checkName(arch, INDEX_NAME);
    const b = await this.os.getBlob(`${arch}/${INDEX_NAME}`);
    return b ? Buffer.from(b) : undefined;
  }

  async open(arch: string, filename: string) {
    checkName(arch, filename);
    const r = await this.os.get(`${arch}/${filename}`);
    if (!r) return undefined;
    return {
      stream: Readable.fromWeb(r.data as unknown as WebReadableStream<Uint8Array>),
      size: r.info.size,
    };
  }

  async list(arch: string): Promise<string[]> {
    const prefix = `${arch}/`;
    return (await this.os.list())
      .filter((i) => !i.deleted && i.name.startsWith(prefix))
      .map((i) => i.name.slice(prefix.length))
      .sort();
  }
}
