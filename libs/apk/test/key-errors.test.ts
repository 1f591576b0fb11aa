import { generateKeyPairSync } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { ApkError } from '../src/errors.js';
import { signingKeyFromPem } from '../src/keys.js';

const { publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
const publicPem = publicKey.export({ type: 'spki', format: 'pem' }) as string;

function errorOf(f: () => unknown): ApkError {
  try {
    f();
  } catch (e) {
    if (e instanceof ApkError) return e;
    throw e;
  }
  throw new Error('expected an ApkError');
}

describe('signing key errors', () => {
  it('a public key given to sign says so; OpenSSL’s text stays in cause', () => {
    const e = errorOf(() => signingKeyFromPem(publicPem, 'melange.rsa.pub.pub', 'melange.rsa.pub'));
    expect(e.code).toBe('bad-key');
    expect(e.message).toBe(
      'melange.rsa.pub is a public key; signing needs the private key (the file without .pub, e.g. melange.rsa from `keygen`)',
    );
    expect(e.message).not.toMatch(/DECODER|error:/);
    expect(e.cause).toBeInstanceOf(Error);
  });

  it('a file that is no key at all names the PEM it wants', () => {
    const e = errorOf(() => signingKeyFromPem('hello\n', 'x.pub', 'notes.txt'));
    expect(e.message).toMatch(
      /^notes\.txt is not a PEM RSA private key \(expected "-----BEGIN RSA PRIVATE KEY-----"/,
    );
    expect(e.cause).toBeDefined();
  });
});
