import { main } from '@melange2/cli';

/** Runs the CLI in-process, capturing stdout (as text and as bytes) and stderr. */
export async function runCli(
  args: string[],
): Promise<{ code: number; out: string; bytes: Buffer; err: string }> {
  const chunks: Buffer[] = [];
  let err = '';
  const ow = process.stdout.write.bind(process.stdout);
  const ew = process.stderr.write.bind(process.stderr);
  process.stdout.write = ((s: string | Uint8Array) => {
    chunks.push(Buffer.from(s));
    return true;
  }) as typeof process.stdout.write;
  process.stderr.write = ((s: string | Uint8Array) => {
    err += String(s);
    return true;
  }) as typeof process.stderr.write;
  const prevExit = process.exitCode;
  process.exitCode = undefined;
  try {
    const code = await main(['node', 'melange2-orch', ...args]);
    const bytes = Buffer.concat(chunks);
    return { code, out: bytes.toString('utf8'), bytes, err };
  } finally {
    process.stdout.write = ow;
    process.stderr.write = ew;
    process.exitCode = prevExit;
  }
}
