/**
 * How a flag is declared (once, in `table.ts`) and how a command takes it: `addFlags` puts the
 * commander options on a command (old spellings hidden), `readFlags` gives the typed values,
 * warning once per old spelling and falling back to the environment and then the default.
 */
import { type Command, Option } from 'commander';
import { CliError, EXIT } from '../exit-codes.js';

interface FlagBase {
  /** Long name as typed, without the dashes: `out-dir`, `no-parse-cache`. */
  readonly name: string;
  /** One-letter spelling (`r` for `-r`). */
  readonly short?: string;
  readonly help: string;
  /**
   * Environment variables read when the flag is not given, first set wins. `envNote` documents
   * a fallback resolved elsewhere (the per-arch `$BUILDKIT_ADDR_<ARCH>`).
   */
  readonly env?: readonly string[];
  readonly envNote?: string;
  /** melange's flag with this name and meaning, or undefined where melange has none. */
  readonly melange?: string;
  /** Old spellings (long names without dashes): accepted for one release, hidden, with a warning. */
  readonly deprecated?: readonly string[];
}

/** A switch: true when given (`--debug`, `--no-parse-cache`). */
export interface SwitchFlag extends FlagBase {
  readonly kind: 'switch';
}

/** One value (`--out-dir DIR`); the last one given wins. */
export interface ValueFlag<T> extends FlagBase {
  readonly kind: 'value';
  /** Placeholder shown in help: `<dir>`. */
  readonly value: string;
  /** The raw default, parsed like a given value; shown in help. */
  readonly default?: string;
  /** `[host]`: the value may be left out; then `parse` gets `true`. */
  readonly optionalValue?: boolean;
  readonly parse: (raw: string, flag: string) => T;
}

/** Repeatable (`--repository-append A --repository-append B`); each value may also be split. */
export interface ListFlag<T> extends FlagBase {
  readonly kind: 'list';
  readonly value: string;
  readonly default?: readonly string[];
  readonly parse: (raw: readonly string[], flag: string) => T;
}

export type Flag = SwitchFlag | ValueFlag<unknown> | ListFlag<unknown>;
export type FlagSet = Readonly<Record<string, Flag>>;

type Defaulted = { readonly default: string | readonly string[] };
/** What `readFlags` gives for a flag: a switch is a boolean; a flag without a default may be absent. */
type FlagValue<F> = F extends SwitchFlag
  ? boolean
  : F extends ValueFlag<infer T> | ListFlag<infer T>
    ? F extends Defaulted
      ? T
      : T | undefined
    : never;
export type FlagValues<S extends FlagSet> = { -readonly [K in keyof S]: FlagValue<S[K]> };

/** The same flag with another default or help text for one command (`--arch` defaults differ). */
export function withDefault<F extends ValueFlag<unknown> | ListFlag<unknown>>(
  flag: F,
  def: F extends ListFlag<unknown> ? readonly string[] : string,
  help?: string,
): F & { readonly default: F extends ListFlag<unknown> ? readonly string[] : string } {
  return { ...flag, default: def, ...(help ? { help } : {}) } as F & {
    readonly default: F extends ListFlag<unknown> ? readonly string[] : string;
  };
}

export function withHelp<F extends Flag>(flag: F, help: string): F {
  return { ...flag, help };
}

const usage = (flag: string, what: string): CliError => new CliError(`${flag}: ${what}`, EXIT.usage);
export { usage as flagError };

function spelling(f: Flag, name: string): string {
  if (f.kind === 'switch') return `--${name}`;
  const v = f.kind === 'value' && f.optionalValue ? f.value.replace(/^<(.*)>$/, '[$1]') : f.value;
  return `--${name} ${v}`;
}

const collect = (v: string, prev: string[] | undefined): string[] => [...(prev ?? []), v];

/** Every option `addFlags` made, with its flag: for `flagsMarkdown` and the README check. */
const declared = new WeakMap<Option, { flag: Flag; deprecated: readonly string[]; deprecatedOf?: string }>();

function optionFor(f: Flag, name: string, hidden: boolean): Option {
  const short = !hidden && f.short ? `-${f.short}, ` : '';
  let help = f.help;
  const env = f.env?.length ? f.env.map((e) => `$${e}`).join(', ') : f.envNote;
  if (env && !hidden) help += ` [env: ${env}]`;
  // Defaults are applied by readFlags (after the environment), so commander holds none; help
  // still shows them.
  const def = defaultText(f);
  if (def !== undefined) help += ` (default: ${def})`;
  const o = new Option(`${short}${spelling(f, name)}`, help);
  if (f.kind === 'list') o.argParser(collect);
  if (hidden) o.hideHelp();
  return o;
}

/** Declares the flags of `set` on `cmd`, with each old spelling as a hidden option. */
export function addFlags(cmd: Command, set: FlagSet): Command {
  // An old spelling that is now another flag's name on this command means that flag (e.g.
  // `--cache-dir` was the parse cache; where builds run it is melange's build cache).
  const names = new Set([
    ...Object.values(set).map((f) => f.name),
    ...cmd.options.flatMap((o) => (o.long ? [o.long.slice(2)] : [])),
  ]);
  for (const f of Object.values(set)) {
    const o = optionFor(f, f.name, false);
    const deprecated = deprecatedOn(f, names);
    declared.set(o, { flag: f, deprecated });
    cmd.addOption(o);
    for (const old of deprecated) {
      const h = optionFor(f, old, true);
      declared.set(h, { flag: f, deprecated, deprecatedOf: f.name });
      cmd.addOption(h);
    }
  }
  return cmd;
}

function deprecatedOn(f: Flag, names: ReadonlySet<string>): string[] {
  return (f.deprecated ?? []).filter((d) => !names.has(d));
}

/** The commander attribute of a spelling, and whether giving it means "off" (`--no-x`). */
function attribute(cmd: Command, name: string): { key: string; negate: boolean } {
  const o = cmd.options.find((x) => x.long === `--${name}`);
  if (!o) throw new Error(`flag --${name} is not declared on ${cmd.name()}`);
  return { key: o.attributeName(), negate: o.negate };
}

/** The raw value given for one spelling, if it was given on the command line. */
function given(cmd: Command, name: string): string | readonly string[] | boolean | undefined {
  const { key, negate } = attribute(cmd, name);
  if (cmd.getOptionValueSource(key) !== 'cli') return undefined;
  const v = cmd.getOptionValue(key) as string | string[] | boolean;
  return negate ? v === false : v;
}

function fromEnv(f: Flag): { raw: string; from: string } | undefined {
  for (const e of f.env ?? []) {
    const v = process.env[e];
    if (v !== undefined && v !== '') return { raw: v, from: `$${e}` };
  }
  return undefined;
}

const warned = new Set<string>();
/** Tests see every warning; a process warns once per old spelling. */
export function resetDeprecationWarnings(): void {
  warned.clear();
}

/** The old spellings of `f` that `addFlags` put on `cmd` (one that is another flag's name is not). */
function oldSpellingsOn(cmd: Command, f: Flag): string[] {
  return (f.deprecated ?? []).filter((old) => {
    const o = cmd.options.find((x) => x.long === `--${old}`);
    return o !== undefined && declared.get(o)?.deprecatedOf === f.name;
  });
}

function readOne(cmd: Command, f: Flag): unknown {
  let raw: string | readonly string[] | boolean | undefined = given(cmd, f.name);
  let label = `--${f.name}`;
  for (const old of oldSpellingsOn(cmd, f)) {
    const v = given(cmd, old);
    if (v === undefined) continue;
    if (!warned.has(old)) {
      warned.add(old);
      process.stderr.write(
        `melange2-orch: warning: --${old} is deprecated and will be removed in the next release; use --${f.name}\n`,
      );
    }
    if (raw === undefined) {
      raw = v;
      label = `--${old}`;
    } else if (f.kind === 'list') raw = [...(v as string[]), ...(raw as string[])];
  }
  if (f.kind === 'switch') return raw === true;
  if (raw === undefined) {
    const env = fromEnv(f);
    if (env) {
      raw = f.kind === 'list' ? env.raw.split(',') : env.raw;
      label = env.from;
    }
  }
  raw ??= f.default;
  if (raw === undefined) return undefined;
  if (f.kind === 'list') return f.parse(raw as readonly string[], label);
  // An optional value left out (`--serve-layers`) arrives as true.
  return f.parse(raw === true ? '' : (raw as string), label);
}

/** The typed values of `set` as given on `cmd` (call it in the action). */
export function readFlags<S extends FlagSet>(cmd: Command, set: S): FlagValues<S> {
  const out: Record<string, unknown> = {};
  for (const [k, f] of Object.entries(set)) out[k] = readOne(cmd, f);
  return out as FlagValues<S>;
}

/** Default as help shows it. */
function defaultText(f: Flag): string | undefined {
  if (f.kind === 'switch' || f.default === undefined) return undefined;
  return Array.isArray(f.default) ? f.default.join(',') : String(f.default);
}

/**
 * The README's flag table: one row per flag as commands declare it (name, help, default and old
 * spellings), with the commands that take it, its environment fallback and melange's name.
 */
export function flagsMarkdown(program: Command): string {
  interface Row {
    readonly flag: Flag;
    readonly deprecated: readonly string[];
    readonly commands: string[];
  }
  const rows = new Map<string, Row>();
  const walk = (c: Command, path: string) => {
    for (const o of c.options) {
      const d = declared.get(o);
      if (!d || d.deprecatedOf) continue;
      const key = [d.flag.name, d.flag.help, defaultText(d.flag), d.deprecated.join()].join('\0');
      const row = rows.get(key) ?? { flag: d.flag, deprecated: d.deprecated, commands: [] };
      row.commands.push(path);
      rows.set(key, row);
    }
    for (const s of c.commands) walk(s, path ? `${path} ${s.name()}` : s.name());
  };
  walk(program, '');
  // Help text is prose: `<dir>` would be read as an HTML tag, `|` as a column.
  const prose = (s: string) => s.replaceAll('|', '\\|').replaceAll('<', '&lt;').replaceAll('>', '&gt;');
  const code = (s: string) => `\`${s.replaceAll('|', '\\|')}\``;
  const lines = [
    '| flag | commands | default | environment | melange | old spelling (warns) | meaning |',
    '|---|---|---|---|---|---|---|',
  ];
  const sorted = [...rows.values()].sort(
    (a, b) => a.flag.name.localeCompare(b.flag.name) || a.commands[0]!.localeCompare(b.commands[0]!),
  );
  for (const r of sorted) {
    const f = r.flag;
    const env = f.env?.length ? f.env.map((e) => code(`$${e}`)).join(', ') : prose(f.envNote ?? '');
    const def = defaultText(f);
    const cells = [
      code((f.short ? `-${f.short}, ` : '') + spelling(f, f.name)),
      r.commands.join(', '),
      def === undefined ? '' : code(def),
      env,
      f.melange ? code(`--${f.melange}`) : '',
      r.deprecated.map((d) => code(`--${d}`)).join(', '),
      prose(f.help),
    ];
    lines.push(`| ${cells.join(' | ')} |`);
  }
  return `${lines.join('\n')}\n`;
}
