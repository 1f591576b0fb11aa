// Connection options of each party of the hostile-client tests, from the environment: with no
// credentials set (the shared server has no auth) every party connects anonymously; once the
// farm's server runs with auth, the role's credentials come from M2_TEST_NATS_<ROLE>_* here.
import { readFileSync } from 'node:fs';
import { type ConnectionOptions, credsAuthenticator } from '@nats-io/transport-node';

export type Role = 'coordinator' | 'agent' | 'attacker';

/** `M2_TEST_NATS_<ROLE>_CREDS` (a creds file), `_USER` + `_PASSWORD`, or `_TOKEN`, and `M2_TEST_NATS_TLS_CA`. */
export function natsOptions(role: Role, servers: string): ConnectionOptions {
  const env = (k: string) => process.env[`M2_TEST_NATS_${role.toUpperCase()}_${k}`];
  const creds = env('CREDS');
  const user = env('USER');
  const pass = env('PASSWORD');
  const token = env('TOKEN');
  const ca = process.env['M2_TEST_NATS_TLS_CA'];
  return {
    servers,
    name: `hostile-test-${role}`,
    ...(creds ? { authenticator: credsAuthenticator(readFileSync(creds)) } : {}),
    ...(user ? { user, pass: pass ?? '' } : {}),
    ...(token ? { token } : {}),
    ...(ca ? { tls: { ca: readFileSync(ca, 'utf8') } } : {}),
  };
}
