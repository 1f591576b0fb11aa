import { expect } from 'vitest';
import { CliError } from '../src/exit-codes.js';

/** The message of the usage error (exit 2) that `f` throws; fails the test when it throws none. */
export function usageMessage(f: () => unknown): string {
  try {
    f();
  } catch (e) {
    expect(e).toBeInstanceOf(CliError);
    expect((e as CliError).exitCode).toBe(2);
    return (e as Error).message;
  }
  throw new Error('no error');
}
