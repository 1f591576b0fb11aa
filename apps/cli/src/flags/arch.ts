/**
 * `--arch` as melange takes it: apk names and their Go/OCI aliases (the arch table is
 * @melange2/melange's), comma-separated or repeated.
 */
import { type Arch, ARCH_ALIASES, ARCHES, findArch } from '@melange2/melange';
import { CliError, EXIT } from '../exit-codes.js';

export type { Arch };

const expected = `expected ${ARCHES.join(', ')} or their aliases ${ARCH_ALIASES.join(', ')}`;

/** The apk name of one spelling, or undefined. */
export function archOf(s: string): Arch | undefined {
  return findArch(s)?.apk;
}

/** `x86_64,arm64` (and repeated flags) → the apk names, once each, in the order given. */
export function parseArches(raw: readonly string[], flag: string): Arch[] {
  const words = raw
    .flatMap((v) => v.split(','))
    .map((s) => s.trim())
    .filter((s) => s !== '');
  if (words.length === 0)
    throw new CliError(`${flag}: give at least one architecture (${expected})`, EXIT.usage);
  const out: Arch[] = [];
  for (const w of words) {
    const a = archOf(w);
    if (!a) throw new CliError(`${flag}: unknown architecture "${w}" (${expected})`, EXIT.usage);
    if (!out.includes(a)) out.push(a);
  }
  return out;
}

/** For commands that work on one arch at a time (`graph`, `compile`, `agent`). */
export function oneArch(arches: readonly Arch[], command: string): Arch {
  if (arches.length !== 1)
    throw new CliError(
      `--arch: ${command} works on one architecture at a time, got ${arches.join(', ')}`,
      EXIT.usage,
    );
  return arches[0]!;
}
