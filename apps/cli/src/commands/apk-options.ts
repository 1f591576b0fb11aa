import { ApkError, Keyring, loadSigningKey, type SigningKey } from '@melange2/apk';
import { CliError, EXIT } from '../exit-codes.js';

/** Repeatable option collector. */
export const collectRepeat = (v: string, prev: string[]) => [...prev, v];

/** Loads key files/dirs given on the command line; a missing or bad key is a usage error. */
export function keyringFrom(paths: readonly string[], flag: string): Keyring {
  try {
    return Keyring.load(paths);
  } catch (e) {
    if (e instanceof ApkError) throw new CliError(`${flag}: ${e.message}`, EXIT.usage);
    throw e;
  }
}

export function signingKeyFrom(path: string): SigningKey {
  try {
    return loadSigningKey(path);
  } catch (e) {
    if (e instanceof ApkError) throw new CliError(`--signing-key: ${e.message}`, EXIT.usage);
    throw e;
  }
}

/** ApkErrors that mean "this input failed verification" become exit 1 with their message. */
export function asFailure(e: unknown): never {
  if (e instanceof ApkError) throw new CliError(e.message, EXIT.failed);
  throw e;
}
