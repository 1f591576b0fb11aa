import { resolve } from 'node:path';
import {
  type Arch,
  ARCHES,
  DEFAULT_STATE_DIR,
  envLines,
  isArch,
  type LocalSetStatus,
  localSetDown,
  localSetStatus,
  localSetUp,
} from '@melange2/daemons';
import type { Command } from 'commander';
import { CliError, EXIT } from '../exit-codes.js';

function parseArches(v: string): Arch[] {
  const arches = v.split(',').map((s) => s.trim());
  for (const a of arches) {
    if (!isArch(a))
      throw new CliError(`--arch: unknown architecture "${a}" (expected ${ARCHES.join(', ')})`, EXIT.usage);
  }
  return arches as Arch[];
}

function describe(st: LocalSetStatus, out: (s: string) => void): boolean {
  let allUp = true;
  for (const a of ARCHES) {
    const h = st.buildkitd[a];
    if (!h) continue;
    if (!h.alive) allUp = false;
    out(
      `# buildkitd ${a}: ${h.alive ? `running (pid ${h.record.pid})` : 'not running'}, log ${h.record.logFile}`,
    );
  }
  if (st.nats) {
    if (!st.nats.alive) allUp = false;
    out(
      `# nats-server: ${st.nats.alive ? `running (pid ${st.nats.record.pid})` : 'not running'}, log ${st.nats.record.logFile}`,
    );
  }
  for (const l of envLines(st)) out(l);
  return allUp;
}

export function registerDaemons(program: Command): void {
  const cmd = program
    .command('daemons')
    .description('start, stop or show the local daemons: buildkitd per arch and nats-server (JetStream)');
  const stateDirOption = [
    '--state-dir <dir>',
    'where sockets, state and logs live',
    DEFAULT_STATE_DIR,
  ] as const;
  const out = (s: string) => process.stdout.write(`${s}\n`);

  cmd
    .command('up')
    .description('start what is not running yet, then print the status (eval-able)')
    .option(...stateDirOption)
    .option('--arch <list>', 'architectures to run buildkitd for', ARCHES.join(','))
    .option('--no-nats', 'do not start nats-server')
    .option('--debug', 'run buildkitd with --debug')
    .action(async (o: { stateDir: string; arch: string; nats: boolean; debug?: boolean }) => {
      const st = await localSetUp(resolve(o.stateDir), {
        arches: parseArches(o.arch),
        nats: o.nats,
        debug: o.debug ?? false,
      });
      describe(st, out);
    });

  cmd
    .command('down')
    .description('stop the daemons of the set')
    .option(...stateDirOption)
    .option('--purge', 'also remove their state (build caches, JetStream store)')
    .action(async (o: { stateDir: string; purge?: boolean }) => {
      const n = await localSetDown(resolve(o.stateDir), { purge: o.purge ?? false });
      out(`# stopped ${n} daemon${n === 1 ? '' : 's'}`);
    });

  cmd
    .command('status')
    .description('print BUILDKIT_ADDR_<ARCH>= and NATS_URL= lines for eval; exit 1 when something is down')
    .option(...stateDirOption)
    .action((o: { stateDir: string }) => {
      const st = localSetStatus(resolve(o.stateDir));
      const any = Object.keys(st.buildkitd).length > 0 || st.nats;
      if (!any) {
        out('# no daemons: run `melange2-orch daemons up`');
        process.exitCode = EXIT.failed;
        return;
      }
      if (!describe(st, out)) process.exitCode = EXIT.failed;
    });
}
