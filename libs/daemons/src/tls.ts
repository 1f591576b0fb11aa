/**
 * A private CA and a server certificate signed by it, made with @peculiar/x509 on Node's
 * WebCrypto (ECDSA P-256, SHA-256): no openssl on the path, the same on every machine. The CA's
 * private key is never written: nothing else can be issued from it, so a new set replaces the
 * whole chain.
 */
// @peculiar/x509 resolves its ASN.1 codecs through tsyringe, which needs the Reflect metadata
// API: the documented polyfill, loaded before it.
import 'reflect-metadata';
import { webcrypto } from 'node:crypto';
import { join } from 'node:path';
import * as x509 from '@peculiar/x509';
import { writeOwnerOnly } from './write-file.js';

export interface TlsFiles {
  /** The CA certificate clients verify the server against. */
  readonly ca: string;
  readonly cert: string;
  readonly key: string;
}

/** The predictable file names in a directory of TLS material. */
const TLS_FILE_NAMES = { ca: 'ca.pem', cert: 'server-cert.pem', key: 'server-key.pem' } as const;

const ALG: webcrypto.EcKeyGenParams & webcrypto.EcdsaParams = {
  name: 'ECDSA',
  namedCurve: 'P-256',
  hash: 'SHA-256',
};
const DAY = 86_400_000;

function names(hosts: readonly string[]): x509.JsonGeneralName[] {
  return hosts.map((h) =>
    /^[0-9.]+$/.test(h) || h.includes(':') ? { type: 'ip', value: h } : { type: 'dns', value: h },
  );
}

/**
 * Writes `ca.pem`, `server-cert.pem` and `server-key.pem` (each 0600) into `dir` for a server reached
 * as any of `hosts` (DNS names or IP addresses, e.g. 127.0.0.1, localhost, nats.ns.svc), valid
 * for `days` (default 825, the most clients accept for a server certificate).
 */
export async function writeServerTls(dir: string, hosts: readonly string[], days = 825): Promise<TlsFiles> {
  const crypto = webcrypto as unknown as NonNullable<
    Parameters<typeof x509.X509CertificateGenerator.create>[1]
  >;
  const notBefore = new Date(Date.now() - DAY);
  const notAfter = new Date(Date.now() + days * DAY);
  const caKeys = (await crypto.subtle.generateKey(ALG, true, ['sign', 'verify'])) as webcrypto.CryptoKeyPair;
  const ca = await x509.X509CertificateGenerator.createSelfSigned(
    {
      name: 'CN=melange2-orch NATS CA',
      keys: caKeys,
      notBefore,
      notAfter,
      signingAlgorithm: ALG,
      extensions: [
        new x509.BasicConstraintsExtension(true, 0, true),
        new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      ],
    },
    crypto,
  );
  const serverKeys = (await crypto.subtle.generateKey(ALG, true, [
    'sign',
    'verify',
  ])) as webcrypto.CryptoKeyPair;
  const cert = await x509.X509CertificateGenerator.create(
    {
      subject: `CN=${hosts[0] ?? 'nats'}`,
      issuer: ca.subject,
      publicKey: serverKeys.publicKey,
      signingKey: caKeys.privateKey,
      notBefore,
      notAfter,
      signingAlgorithm: ALG,
      extensions: [
        new x509.BasicConstraintsExtension(false, undefined, true),
        new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
        new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth]),
        new x509.SubjectAlternativeNameExtension(names(hosts)),
      ],
    },
    crypto,
  );
  const pkcs8 = await crypto.subtle.exportKey('pkcs8', serverKeys.privateKey);
  const files: TlsFiles = {
    ca: join(dir, TLS_FILE_NAMES.ca),
    cert: join(dir, TLS_FILE_NAMES.cert),
    key: join(dir, TLS_FILE_NAMES.key),
  };
  writeOwnerOnly(files.ca, ca.toString('pem'));
  writeOwnerOnly(files.cert, cert.toString('pem'));
  writeOwnerOnly(files.key, x509.PemConverter.encode(pkcs8, 'PRIVATE KEY'));
  return files;
}
