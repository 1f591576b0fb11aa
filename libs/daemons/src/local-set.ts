import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ARCH_PLATFORMS, type Arch, ARCHES } from './arch.js';
import { startBuildkitd } from './buildkitd.js';
import { startNats } from './nats.js';
import { type AuthRole, type NatsSecurityFiles, writeNatsSecurity } from './nats-auth.js';
import { isAlive, terminate } from './process.js';

/**
 * A persistent local set of daemons (one buildkitd per arch and one nats-server), started
 * detached by `melange2-orch daemons up` and described by `<stateDir>/daemons.json`.
 */
interface DaemonRecord {
  readonly pid: number;
  readonly address: string;
  readonly logFile: string;
  /** More `KEY=value` lines for clients (NATS: the CA and the roles' credentials). */
  readonly env?: Readonly<Record<string, string>>;
}

/** A locked-down NATS: TLS and these roles, and the env lines that tell clients where their files are. */
export interface NatsSecurity {
  readonly roles: readonly AuthRole[];
  env(files: NatsSecurityFiles): Record<string, string>;
}

interface LocalSetState {
  readonly buildkitd: Partial<Record<Arch, DaemonRecord>>;
  readonly nats?: DaemonRecord;
}

type DaemonHealth = { readonly record: DaemonRecord; readonly alive: boolean };

export interface LocalSetStatus {
  readonly stateDir: string;
  readonly buildkitd: Partial<Record<Arch, DaemonHealth>>;
  readonly nats?: DaemonHealth;
}

export const DEFAULT_STATE_DIR = '.melange2/daemons';

function stateFile(stateDir: string): string {
  return join(stateDir, 'daemons.json');
}

function readLocalSet(stateDir: string): LocalSetState | undefined {
  const f = stateFile(stateDir);
  if (!existsSync(f)) return undefined;
  return JSON.parse(readFileSync(f, 'utf8')) as LocalSetState;
}

function writeLocalSet(stateDir: string, s: LocalSetState): void {
  const f = stateFile(stateDir);
  writeFileSync(`${f}.tmp`, `${JSON.stringify(s, null, 2)}\n`);
  renameSync(`${f}.tmp`, f);
}

export function localSetStatus(stateDir: string): LocalSetStatus {
  const s = readLocalSet(stateDir) ?? { buildkitd: {} };
  const health = (r: DaemonRecord): DaemonHealth => ({ record: r, alive: isAlive(r.pid) });
  const buildkitd: Partial<Record<Arch, DaemonHealth>> = {};
  for (const a of ARCHES) {
    const r = s.buildkitd[a];
    if (r) buildkitd[a] = health(r);
  }
  return { stateDir, buildkitd, ...(s.nats ? { nats: health(s.nats) } : {}) };
}

/** Starts whatever of the set is not running yet; returns the resulting status. */
export async function localSetUp(
  stateDir: string,
  opts: { arches?: readonly Arch[]; nats?: boolean; natsSecurity?: NatsSecurity; debug?: boolean } = {},
): Promise<LocalSetStatus> {
  mkdirSync(stateDir, { recursive: true });
  const prev = localSetStatus(stateDir);
  const buildkitd: Partial<Record<Arch, DaemonRecord>> = {};
  for (const [a, h] of Object.entries(prev.buildkitd) as [Arch, DaemonHealth][]) {
    if (h.alive) buildkitd[a] = h.record;
  }
  let nats = prev.nats?.alive ? prev.nats.record : undefined;
  // Record each daemon as soon as it is up, so `down` can stop it even if a later one fails.
  const save = () => writeLocalSet(stateDir, { buildkitd, ...(nats ? { nats } : {}) });
  for (const arch of opts.arches ?? ARCHES) {
    if (buildkitd[arch]) continue;
    const b = await startBuildkitd({
      platform: ARCH_PLATFORMS[arch],
      stateDir: join(stateDir, arch),
      detached: true,
      debug: opts.debug ?? false,
    });
    buildkitd[arch] = { pid: b.pid, address: b.address, logFile: b.logFile };
    save();
  }
  if ((opts.nats ?? true) && !nats) {
    const natsDir = join(stateDir, 'nats');
    const sec = opts.natsSecurity;
    const files = sec
      ? await writeNatsSecurity(join(natsDir, 'auth'), {
          roles: sec.roles,
          hosts: ['127.0.0.1', 'localhost'],
        })
      : undefined;
    const n = await startNats({
      stateDir: natsDir,
      detached: true,
      ...(files ? { tls: files.tls, authConf: files.authConf } : {}),
    });
    nats = {
      pid: n.pid,
      address: n.url,
      logFile: n.logFile,
      ...(sec && files ? { env: sec.env(files) } : {}),
    };
    save();
  }
  save();
  return localSetStatus(stateDir);
}

/** Stops every daemon of the set; keeps their state (caches) unless `purge`. */
export async function localSetDown(stateDir: string, opts: { purge?: boolean } = {}): Promise<number> {
  const s = readLocalSet(stateDir);
  let stopped = 0;
  if (s) {
    const records = [...Object.values(s.buildkitd), ...(s.nats ? [s.nats] : [])];
    await Promise.all(
      records.map(async (r) => {
        if (isAlive(r.pid)) stopped++;
        await terminate(r.pid);
      }),
    );
    rmSync(stateFile(stateDir), { force: true });
  }
  if (opts.purge) rmSync(stateDir, { recursive: true, force: true });
  return stopped;
}

/** `KEY=value` lines a shell can `eval`. */
export function envLines(st: LocalSetStatus): string[] {
  const lines: string[] = [];
  for (const a of ARCHES) {
    const h = st.buildkitd[a];
    if (h?.alive) lines.push(`BUILDKIT_ADDR_${a.toUpperCase()}=${h.record.address}`);
  }
  if (st.nats?.alive) {
    lines.push(`NATS_URL=${st.nats.record.address}`);
    for (const [k, v] of Object.entries(st.nats.record.env ?? {})) lines.push(`${k}=${v}`);
  }
  return lines;
}
