import {
  createPrivateKey,
  createPublicKey,
  generateKeyPair as genKeyPair,
  type KeyObject,
  sign as cryptoSign,
  verify as cryptoVerify,
} from 'node:crypto';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { basename, join } from 'node:path';
import { promisify } from 'node:util';
import { ApkError } from './errors.js';
import { writeFileAtomic } from './fsutil.js';

const generate = promisify(genKeyPair);

/** Signature algorithms apk knows; we sign with RSA256 and verify RSA and RSA512 too. */
export type SignatureAlg = 'RSA' | 'RSA256' | 'RSA512';
const DIGEST_OF: Record<SignatureAlg, 'sha1' | 'sha256' | 'sha512'> = {
  RSA: 'sha1',
  RSA256: 'sha256',
  RSA512: 'sha512',
};

export interface KeyPairPem {
  /** PKCS#1 `BEGIN RSA PRIVATE KEY`: the only form melange and apko sign with. */
  privatePem: string;
  /** SPKI `BEGIN PUBLIC KEY`: the only form apk loads. */
  publicPem: string;
}

export async function generateKeyPair(bits = 4096): Promise<KeyPairPem> {
  if (!Number.isInteger(bits) || bits < 2048) {
    throw new ApkError('bad-key', `key size ${bits} is too small (at least 2048 bits)`);
  }
  const { privateKey, publicKey } = await generate('rsa', { modulusLength: bits, publicExponent: 0x10001 });
  return {
    privatePem: privateKey.export({ type: 'pkcs1', format: 'pem' }) as string,
    publicPem: publicKey.export({ type: 'spki', format: 'pem' }) as string,
  };
}

/**
 * Writes `<dir>/<name>.rsa` (mode 0600) and `<dir>/<name>.rsa.pub`; refuses to overwrite either
 * unless `force`.
 */
export async function writeKeyPair(
  dir: string,
  name: string,
  opts: { bits?: number; force?: boolean } = {},
): Promise<{ privatePath: string; publicPath: string }> {
  const privatePath = join(dir, `${name}.rsa`);
  const publicPath = `${privatePath}.pub`;
  if (!opts.force) {
    for (const p of [privatePath, publicPath]) {
      if (existsSync(p))
        throw new ApkError('exists', `${p} already exists (use --force to overwrite)`, { file: p });
    }
  }
  const kp = await generateKeyPair(opts.bits ?? 4096);
  writeFileAtomic(privatePath, kp.privatePem, 0o600);
  writeFileAtomic(publicPath, kp.publicPem, 0o644);
  return { privatePath, publicPath };
}

/** A private key plus the public key file name verifiers will look it up by. */
export interface SigningKey {
  key: KeyObject;
  /** `<basename of the private key>.pub`, e.g. `melange.rsa.pub`: the `.SIGN.RSA256.` suffix. */
  publicName: string;
}

export function loadSigningKey(path: string, publicName?: string): SigningKey {
  let pem: string;
  try {
    pem = readFileSync(path, 'utf8');
  } catch (e) {
    const why = (e as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (e as Error).message;
    throw new ApkError('bad-key', `cannot read signing key ${path}: ${why}`, { file: path }, { cause: e });
  }
  return signingKeyFromPem(pem, publicName ?? `${basename(path)}.pub`, path);
}

export function signingKeyFromPem(pem: string, publicName: string, where = publicName): SigningKey {
  let key: KeyObject;
  try {
    key = createPrivateKey(pem);
  } catch (e) {
    // OpenSSL's text (`error:1E08010C:DECODER routines::unsupported`) says nothing to a user: it
    // stays in `cause`; the message says what the file is and what is wanted instead.
    const isPublic = /-----BEGIN (RSA )?PUBLIC KEY-----/.test(pem);
    throw new ApkError(
      'bad-key',
      isPublic
        ? `${where} is a public key; signing needs the private key (the file without .pub, e.g. melange.rsa from \`keygen\`)`
        : `${where} is not a PEM RSA private key (expected "-----BEGIN RSA PRIVATE KEY-----" or "-----BEGIN PRIVATE KEY-----", as \`keygen\` writes)`,
      { file: where },
      { cause: e },
    );
  }
  if (key.asymmetricKeyType !== 'rsa') {
    throw new ApkError('bad-key', `${where}: key type ${key.asymmetricKeyType} is not RSA`, { file: where });
  }
  if (publicName.length + '.SIGN.RSA256.'.length > 100) {
    throw new ApkError('bad-key', `${where}: key name "${publicName}" is too long for a signature entry`);
  }
  return { key, publicName };
}

/** SPKI PEM of a signing key's public half, to publish as `<publicName>`. */
export function publicPemOf(k: SigningKey): string {
  return createPublicKey(k.key).export({ type: 'spki', format: 'pem' }) as string;
}

export function signData(k: SigningKey, data: Buffer, alg: SignatureAlg = 'RSA256'): Buffer {
  return cryptoSign(DIGEST_OF[alg], data, k.key);
}

/** Trusted public keys by file name, as apk looks them up in /etc/apk/keys. */
export class Keyring {
  readonly keys = new Map<string, { key: KeyObject; pem: string }>();

  add(name: string, pem: string): this {
    // Node derives a public key from a private PEM too: a private key must never become a trusted
    // key (its PEM would be copied wherever the keyring goes, e.g. a build's /etc/apk/keys).
    if (/-----BEGIN [A-Z ]*PRIVATE KEY-----/.test(pem))
      throw new ApkError('bad-key', `${name} is a private key, not a public key`, { file: name });
    try {
      this.keys.set(name, { key: createPublicKey(pem), pem });
    } catch (e) {
      throw new ApkError(
        'bad-key',
        `${name} is not a PEM public key (expected "-----BEGIN PUBLIC KEY-----")`,
        {
          file: name,
        },
        { cause: e },
      );
    }
    return this;
  }

  /** Adds key files, or every file of a directory (as `--keys-dir` does). */
  static load(paths: readonly string[]): Keyring {
    const kr = new Keyring();
    for (const p of paths) {
      let st: ReturnType<typeof statSync>;
      try {
        st = statSync(p);
      } catch {
        throw new ApkError('bad-key', `keyring: ${p} does not exist`, { file: p });
      }
      const files = st.isDirectory()
        ? readdirSync(p)
            .sort()
            .map((f) => join(p, f))
        : [p];
      for (const f of files) {
        try {
          kr.add(basename(f), readFileSync(f, 'utf8'));
        } catch (e) {
          // In a keys directory, files that are not public keys are skipped, as apk does.
          if (!st.isDirectory()) throw e;
        }
      }
    }
    return kr;
  }

  /** The key for a signature entry's key name, also accepting the name without `.rsa.pub`, as apko does. */
  lookup(name: string): KeyObject | undefined {
    return (this.keys.get(name) ?? this.keys.get(name.replace(/\.rsa\.pub$/, '')))?.key;
  }

  get size(): number {
    return this.keys.size;
  }
}

function verifySignature(key: KeyObject, alg: SignatureAlg, data: Buffer, sig: Buffer): boolean {
  try {
    return cryptoVerify(DIGEST_OF[alg], data, key, sig);
  } catch {
    return false;
  }
}

export interface SignatureEntry {
  alg: SignatureAlg | 'DSA';
  keyName: string;
  signature: Buffer;
}

/** `.SIGN.RSA256.melange.rsa.pub` → its parts, or undefined for names that are not signatures. */
export function parseSignatureName(name: string): { alg: string; keyName: string } | undefined {
  const m = /^\.SIGN\.([A-Z0-9]+)\.(.+)$/.exec(name);
  return m ? { alg: m[1]!, keyName: m[2]! } : undefined;
}

/**
 * Checks signatures the way apk does: the first entry whose key is in the keyring decides.
 * Returns the key name that verified; throws `untrusted` or `bad-signature` naming `where`.
 */
export function checkSignatures(
  sigs: readonly SignatureEntry[],
  keyring: Keyring,
  data: Buffer,
  where: string,
): string {
  if (sigs.length === 0) throw new ApkError('unsigned', `${where}: not signed`, { file: where });
  for (const s of sigs) {
    if (s.alg === 'DSA') continue;
    const key = keyring.lookup(s.keyName);
    if (!key) continue;
    if (!verifySignature(key, s.alg, data, s.signature)) {
      throw new ApkError(
        'bad-signature',
        `${where}: signature .SIGN.${s.alg}.${s.keyName} does not verify (content modified or wrong key)`,
        { file: where },
      );
    }
    return s.keyName;
  }
  throw new ApkError(
    'untrusted',
    `${where}: UNTRUSTED signature: signed by ${sigs.map((s) => s.keyName).join(', ')}, none of which is in the keyring (${[...keyring.keys.keys()].join(', ') || 'empty'})`,
    { file: where },
  );
}
