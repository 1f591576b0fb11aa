import { ApkError, Keyring, loadSigningKey, type SigningKey } from '@melange2/apk';
import { CliError, EXIT } from '../exit-codes.js';

/** Loads key files/dirs given on the command line; a missing or bad key is a usage error. */
export function keyringFrom(paths: readonly string[], flag: string): Keyring {
  try {
    return Keyring.load(paths);
  } catch (e) {
    if (e instanceof ApkError) throw new CliError(`${flag}: ${e.message}`, EXIT.usage, { cause: e });
    throw e;
  }
}

export function signingKeyFrom(path: string): SigningKey {
  try {
    return loadSigningKey(path);
  } catch (e) {
    if (e instanceof ApkError) throw new CliError(`--signing-key: ${e.message}`, EXIT.usage, { cause: e });
    throw e;
  }
}

/** ApkErrors that mean "this input failed verification" become exit 1 with their message. */
export function asFailure(e: unknown): never {
  if (e instanceof ApkError) throw new CliError(e.message, EXIT.failed, { cause: e });
  throw e;
}
