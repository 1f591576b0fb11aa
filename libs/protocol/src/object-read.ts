import type { ObjectStore } from '@nats-io/obj';

/** A read that took longer than its bound (see `readObject`). */
class ObjectReadTimeout extends Error {
  override readonly name = 'ObjectReadTimeout';
  readonly code = 'object-read-timeout';
  constructor(
    readonly object: string,
    readonly timeoutMs: number,
    tries: number,
  ) {
    super(`${object}: not read within ${timeoutMs} ms, ${tries} time(s)`);
  }
}

/**
 * A small object's bytes, or null when there is none. A read that races the object's
 * replacement can wait forever: the client follows the chunks the old metadata names, which
 * the replacement purges. Such a read is given up after `timeoutMs` and made again (the new
 * metadata names the new chunks), `tries` times at most.
 */
export async function readObject(
  os: ObjectStore,
  name: string,
  o: { readonly timeoutMs?: number; readonly tries?: number } = {},
): Promise<Uint8Array | null> {
  const timeoutMs = o.timeoutMs ?? 5000;
  const tries = o.tries ?? 3;
  for (let i = 1; ; i++) {
    const r = await os.get(name);
    if (!r) return null;
    const reader = r.data.getReader();
    let timer: ReturnType<typeof setTimeout> | undefined;
    const late = new Promise<'late'>((resolve) => {
      timer = setTimeout(() => resolve('late'), timeoutMs);
    });
    const read = (async () => {
      const parts: Uint8Array[] = [];
      for (;;) {
        const { done, value } = await reader.read();
        if (done) return Buffer.concat(parts);
        if (value?.length) parts.push(value);
      }
    })();
    try {
      const got = await Promise.race([read, late]);
      if (got !== 'late') {
        const err = await r.error;
        if (err) throw err;
        return got;
      }
    } finally {
      clearTimeout(timer);
    }
    // Stops the client's consumer; the abandoned read ends with the cancel.
    read.catch(() => {});
    await reader.cancel().catch(() => {});
    if (i >= tries) throw new ObjectReadTimeout(name, timeoutMs, tries);
  }
}
