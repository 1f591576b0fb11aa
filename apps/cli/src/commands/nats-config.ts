import { resolve } from 'node:path';
import { ARCHES, writeNatsSecurity } from '@melange2/daemons';
import { DEFAULT_NAMESPACE } from '@melange2/protocol';
import type { Command } from 'commander';
import { CliError, EXIT } from '../exit-codes.js';
import { addFlags, type FlagSet, readFlags, withDefault, withHelp } from '../flags/define.js';
import { FLAGS } from '../flags/table.js';
import { securityEnv, securityRoles } from '../nats-roles.js';

const NATS_CONFIG_FLAGS = {
  arch: withDefault(FLAGS.arch, [...ARCHES], 'architectures of the farm: one agent user each'),
  namespace: withDefault(
    withHelp(FLAGS.namespace, 'the namespace the coordinator and agents use (--namespace of both)'),
    DEFAULT_NAMESPACE,
  ),
  output: withHelp(
    FLAGS.outputDir,
    'directory to write auth.conf, coordinator.nk, agent-<arch>.nk, ca.pem, server-cert.pem, server-key.pem into (created; files 0600)',
  ),
  host: withDefault(FLAGS.natsHosts, ['127.0.0.1', 'localhost']),
} satisfies FlagSet;

export function registerNatsConfig(program: Command): void {
  const cmd = program
    .command('nats-config')
    .description(
      "write a locked-down NATS setup for a farm: the server's authorization (include auth.conf), one nkey per role (coordinator, agent per arch), and a CA with a server certificate",
    );
  addFlags(cmd, NATS_CONFIG_FLAGS).action(async (_o: unknown, c: Command) => {
    const flags = readFlags(c, NATS_CONFIG_FLAGS);
    if (!flags.output) throw new CliError('--output is required: the directory to write into', EXIT.usage);
    const dir = resolve(flags.output);
    const files = await writeNatsSecurity(dir, {
      roles: securityRoles([flags.namespace], flags.arch),
      hosts: flags.host,
    });
    const out = (s: string) => process.stdout.write(`${s}\n`);
    out(`# wrote ${dir}: include auth.conf in the server config, with tls { cert_file, key_file } from it`);
    for (const [k, v] of Object.entries(securityEnv(files, [flags.namespace], flags.arch))) out(`${k}=${v}`);
  });
}
