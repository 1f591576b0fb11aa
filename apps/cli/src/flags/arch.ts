/**
 * `--arch` as melange takes it: apk names and their Go/OCI aliases, comma-separated or repeated.
 *
 * NOTE(lead): the arch alias table belongs to libs/melange (being written); until it is merged this
 * is the CLI's one copy. Point `ARCH_ALIASES` at libs/melange's table then and delete this one.
 */
import { CliError, EXIT } from '../exit-codes.js';

/** The architectures melange2-orch builds for (apk names). */
export type Arch = 'x86_64' | 'aarch64';
const ARCHES: readonly Arch[] = ['x86_64', 'aarch64'];

/** Every spelling melange accepts for an arch we build, to its apk name. */
const ARCH_ALIASES: Readonly<Record<string, Arch>> = {
  x86_64: 'x86_64',
  amd64: 'x86_64',
  aarch64: 'aarch64',
  arm64: 'aarch64',
};

const expected = `expected ${ARCHES.map((a) => `${a}`).join(', ')} or their aliases ${Object.keys(
  ARCH_ALIASES,
)
  .filter((k) => !(ARCHES as readonly string[]).includes(k))
  .join(', ')}`;

/** The apk name of one spelling, or undefined. */
export function archOf(s: string): Arch | undefined {
  return Object.hasOwn(ARCH_ALIASES, s) ? ARCH_ALIASES[s] : undefined;
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
