import { resolve } from 'node:path';
import {
  ARCHES,
  DEFAULT_STATE_DIR,
  envLines,
  type LocalSetStatus,
  localSetDown,
  localSetStatus,
  localSetUp,
} from '@melange2/daemons';
import { DEFAULT_NAMESPACE } from '@melange2/protocol';
import type { Command } from 'commander';
import { EXIT } from '../exit-codes.js';
import { addFlags, type FlagSet, readFlags, withDefault, withHelp } from '../flags/define.js';
import { FLAGS } from '../flags/table.js';
import { securityEnv, securityRoles } from '../nats-roles.js';

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
  const stateDir = withDefault(FLAGS.stateDir, DEFAULT_STATE_DIR);
  const out = (s: string) => process.stdout.write(`${s}\n`);

  const UP = {
    stateDir,
    arch: withDefault(
      FLAGS.arch,
      [...ARCHES],
      'architectures to run buildkitd for: x86_64 (amd64), aarch64 (arm64)',
    ),
    noNats: FLAGS.noNats,
    natsInsecure: FLAGS.natsInsecure,
    debug: withHelp(FLAGS.debug, 'run buildkitd with --debug'),
  } satisfies FlagSet;
  addFlags(
    cmd.command('up').description('start what is not running yet, then print the status (eval-able)'),
    UP,
  ).action(async (_o: unknown, c: Command) => {
    const o = readFlags(c, UP);
    // NATS is locked down unless asked otherwise: TLS, and an nkey user per role (nats-config's).
    const ns = [DEFAULT_NAMESPACE];
    const st = await localSetUp(resolve(o.stateDir), {
      arches: o.arch,
      nats: !o.noNats,
      ...(o.natsInsecure
        ? {}
        : {
            natsSecurity: {
              roles: securityRoles(ns, o.arch),
              env: (files) => securityEnv(files, ns, o.arch),
            },
          }),
      debug: o.debug,
    });
    describe(st, out);
  });

  const DOWN = { stateDir, purge: FLAGS.purge } satisfies FlagSet;
  addFlags(cmd.command('down').description('stop the daemons of the set'), DOWN).action(
    async (_o: unknown, c: Command) => {
      const o = readFlags(c, DOWN);
      const n = await localSetDown(resolve(o.stateDir), { purge: o.purge });
      out(`# stopped ${n} daemon${n === 1 ? '' : 's'}`);
    },
  );

  const STATUS = { stateDir } satisfies FlagSet;
  addFlags(
    cmd
      .command('status')
      .description(
        'print BUILDKIT_ADDR_<ARCH>=, NATS_URL= and (NATS locked down) NATS_TLS_CA=, NATS_NKEY= (the coordinator role) and MELANGE2_AGENT_NATS_NKEY_<ARCH>= lines for eval; exit 1 when something is down',
      ),
    STATUS,
  ).action((_o: unknown, c: Command) => {
    const o = readFlags(c, STATUS);
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
