/**
 * Every flag of `melange2-orch`, declared once: name, old spellings, parser, environment
 * fallback, help and melange's equivalent. Commands pick their flags from here (`addFlags`,
 * `readFlags`); where melange has a flag, the name and meaning are melange's. README's flag
 * table is generated from this one (test/readme-flags.test.ts keeps them equal).
 */
import { type Arch, parseArches } from './arch.js';
import { flagError, type ListFlag, type SwitchFlag, type ValueFlag } from './define.js';

type Extra = Partial<Pick<ValueFlag<unknown>, 'short' | 'env' | 'envNote' | 'melange' | 'deprecated'>>;

const text = (name: string, value: string, help: string, extra: Extra = {}): ValueFlag<string> => ({
  kind: 'value',
  name,
  value,
  help,
  parse: (v) => v,
  ...extra,
});

const texts = (name: string, value: string, help: string, extra: Extra = {}): ListFlag<string[]> => ({
  kind: 'list',
  name,
  value,
  help,
  parse: (v) => [...v],
  ...extra,
});

/** Repeatable, and each value may also be a comma- or space-separated list (`--depends a,b`). */
const words = (name: string, value: string, help: string, extra: Extra = {}): ListFlag<string[]> => ({
  ...texts(name, value, help, extra),
  parse: (v) => v.flatMap((s) => s.split(/[\s,]+/)).filter(Boolean),
});

const on = (name: string, help: string, extra: Extra = {}): SwitchFlag => ({
  kind: 'switch',
  name,
  help,
  ...extra,
});

/** A whole number at least `min`. */
const count = (
  name: string,
  value: string,
  min: number,
  help: string,
  extra: Extra = {},
): ValueFlag<number> => ({
  kind: 'value',
  name,
  value,
  help,
  parse: (v, flag) => {
    const n = Number(v);
    if (v.trim() === '' || !Number.isInteger(n) || n < min)
      throw flagError(flag, `expected a whole number ≥ ${min}, got "${v}"`);
    return n;
  },
  ...extra,
});

/** Any integer (`--provider-priority -1`). */
const integer = (name: string, value: string, help: string): ValueFlag<number> => ({
  kind: 'value',
  name,
  value,
  help,
  parse: (v, flag) => {
    if (!/^-?\d+$/.test(v)) throw flagError(flag, `expected an integer, got "${v}"`);
    return Number(v);
  },
});

/** One of a fixed set of words. */
function oneOf<const W extends string>(
  name: string,
  value: string,
  allowed: readonly W[],
  help: string,
): ValueFlag<W> {
  return {
    kind: 'value',
    name,
    value,
    help,
    parse: (v, flag) => {
      if (!(allowed as readonly string[]).includes(v))
        throw flagError(flag, `expected ${allowed.slice(0, -1).join(', ')} or ${allowed.at(-1)}, got "${v}"`);
      return v as W;
    },
  };
}

const arch: ListFlag<Arch[]> = {
  kind: 'list',
  name: 'arch',
  value: '<arch>',
  help: 'architectures, comma-separated or repeated: x86_64 (amd64), aarch64 (arm64)',
  melange: 'arch',
  parse: parseArches,
};

const serveLayers: ValueFlag<string> = {
  kind: 'value',
  name: 'serve-layers',
  value: '<host>',
  optionalValue: true,
  help: 'send environment packages over HTTP from this host, keyed by content: a package the daemon has seen is never sent again (the daemon must reach the host); the default with daemons on this machine (127.0.0.1), "off" syncs them as directories',
  parse: (v) => (v === '' ? '127.0.0.1' : v),
};

/** `--with-dependents` → whether to add dependents, and whether early cutoff applies. */
const withDependents: ValueFlag<{ withDependents: true; earlyCutoff?: true }> = {
  kind: 'value',
  name: 'with-dependents',
  value: '<all>',
  optionalValue: true,
  help: 'also rebuild what depends on the selection; a dependent whose rebuilt deps provide the same names as before is cut off, unless "all"',
  parse: (v, flag) => {
    if (v === '') return { withDependents: true, earlyCutoff: true };
    if (v === 'all') return { withDependents: true };
    throw flagError(flag, `expected nothing or "all", got "${v}"`);
  },
};

/** `host:port`; port 0 picks a free one. */
const listen: ValueFlag<{ host: string; port: number }> = {
  kind: 'value',
  name: 'listen',
  value: '<host:port>',
  help: 'where the repository is served to agents',
  parse: (v, flag) => {
    const m = /^(.*):(\d+)$/.exec(v);
    if (!m) throw flagError(flag, `expected host:port, got "${v}"`);
    const port = Number(m[2]);
    if (port > 65535) throw flagError(flag, `port ${port} is out of range (0-65535; 0 picks a free one)`);
    return { host: m[1] || '127.0.0.1', port };
  },
};

/** `--dashboard[=host:port]`: loopback and a free port unless told. */
const dashboard: ValueFlag<{ host: string; port: number }> = {
  kind: 'value',
  name: 'dashboard',
  value: '<host:port>',
  optionalValue: true,
  help: 'serve the live dashboard while the run goes (default 127.0.0.1 and a free port; the URL is printed)',
  parse: (v, flag) => (v === '' ? { host: '127.0.0.1', port: 0 } : listen.parse(v, flag)),
};

export const FLAGS = {
  // ── melange's build flags ──────────────────────────────────────────────────────────────
  arch,
  outDir: text('out-dir', '<dir>', 'output repository: packages go to <dir>/<arch>/, with its APKINDEX', {
    melange: 'out-dir',
    deprecated: ['out'],
  }),
  signingKey: text(
    'signing-key',
    '<key>',
    'RSA private key that signs packages and indexes (e.g. melange.rsa)',
    {
      melange: 'signing-key',
    },
  ),
  repositoryAppend: texts(
    'repository-append',
    '<repo>',
    'extra repository for the build environments (repeatable)',
    {
      short: 'r',
      melange: 'repository-append',
    },
  ),
  keyringAppend: texts(
    'keyring-append',
    '<key>',
    'extra trusted public key, file or directory (repeatable)',
    {
      short: 'k',
      melange: 'keyring-append',
    },
  ),
  pipelineDir: texts(
    'pipeline-dir',
    '<dir>',
    'directory of `uses:` pipelines searched before the built-ins (repeatable; default <config dir>/pipelines)',
    { melange: 'pipeline-dir' },
  ),
  sourceDir: text(
    'source-dir',
    '<dir>',
    'source tree copied into /home/build (default <config dir>/<package>/ when it exists)',
    { melange: 'source-dir' },
  ),
  cacheDir: text(
    'cache-dir',
    '<dir>',
    'build cache: this host directory is what the build sees at /var/cache/melange; only the sha256:/sha512: files (and git/ mirrors) the steps name are sent, and what the build writes there lands in it (default a cache kept by buildkitd)',
    { melange: 'cache-dir' },
  ),
  stepGrouping: oneOf(
    'step-grouping',
    '<grouping>',
    ['build', 'pipeline', 'step'],
    'which steps share one container: build (the default: all, as melange runs them), pipeline (consecutive steps of one pipeline) or step (one each: every step cached on its own, for editing or retrying late steps); each step still runs in its own shell, announced in the log, and a failure names it',
  ),
  gitMirror: text(
    'git-mirror',
    '<dir>',
    'bare git mirrors as <dir>/<host>/<path>.git: git-checkout clones a repository it finds there instead of using the network',
  ),
  apkCacheDir: text(
    'apk-cache-dir',
    '<dir>',
    'cache of fetched and extracted packages (default ~/.cache/melange2-orch/apk)',
    { melange: 'apk-cache-dir' },
  ),
  envFile: texts('env-file', '<file>', 'KEY=VALUE file layered under environment.environment (repeatable)', {
    melange: 'env-file',
  }),
  varsFile: text('vars-file', '<file>', "YAML mapping merged over the config's vars", {
    melange: 'vars-file',
  }),
  buildOption: texts('build-option', '<name>', 'enable a build option of the config (repeatable)', {
    melange: 'build-option',
  }),
  sourceDateEpoch: count(
    'source-date-epoch',
    '<seconds>',
    0,
    'SOURCE_DATE_EPOCH: timestamps of the outputs',
    {
      env: ['SOURCE_DATE_EPOCH'],
    },
  ),
  testPackageAppend: words(
    'test-package-append',
    '<pkg>',
    'extra package installed in every test environment (repeatable, or comma-separated; Wolfi passes wolfi-base)',
    { melange: 'test-package-append' },
  ),
  debug: on('debug', 'show every step and its log lines as they come', { melange: 'debug' }),
  noGenerateIndex: on('no-generate-index', 'do not add the packages to <out-dir>/<arch>/APKINDEX.tar.gz', {
    melange: 'generate-index=false',
  }),

  // ── BuildKit ───────────────────────────────────────────────────────────────────────────
  buildkitAddr: texts(
    'buildkit-addr',
    '<addr>',
    'buildkitd address, or ARCH=ADDR per architecture (repeatable)',
    { envNote: '$BUILDKIT_ADDR_<ARCH>, then $BUILDKIT_HOST' },
  ),
  buildkitTlscacert: text(
    'buildkit-tlscacert',
    '<file>',
    'CA certificate (PEM) the buildkitd server certificate must chain to; turns TLS on (for tcp:// addresses)',
    { env: ['BUILDKIT_TLS_CA'] },
  ),
  buildkitTlscert: text(
    'buildkit-tlscert',
    '<file>',
    'client certificate (PEM) for a buildkitd that requires one (with --buildkit-tlskey)',
    { env: ['BUILDKIT_TLS_CERT'] },
  ),
  buildkitTlskey: text('buildkit-tlskey', '<file>', 'private key (PEM) of --buildkit-tlscert', {
    env: ['BUILDKIT_TLS_KEY'],
  }),
  buildkitTlsservername: text(
    'buildkit-tlsservername',
    '<name>',
    'name the buildkitd certificate must carry, when it is not the host of the address',
    { env: ['BUILDKIT_TLS_SERVER_NAME'] },
  ),
  serveLayers,

  // ── runs (build-all, coordinator, agent) ────────────────────────────────────────────────
  jobs: count('jobs', '<n>', 1, 'concurrent builds per arch (per agent)', {
    short: 'j',
    deprecated: ['slots'],
  }),
  changedSince: text(
    'changed-since',
    '<ref>',
    'only configs changed since this git ref (commit, branch or tag)',
  ),
  withDependents,
  retryFailed: on('retry-failed', 'build again packages that failed before with the same config'),
  noWait: on(
    'no-wait',
    'when another build-all holds --out-dir, refuse at once (exit 1, naming it) instead of waiting for it',
  ),
  order: oneOf(
    'order',
    '<order>',
    ['cp-unlock', 'cp-mix', 'critical-path', 'fifo'],
    'order of ready builds: cp-unlock (longest remaining chain first, ties to the build that unlocks the most work), cp-mix (every other build of an arch in plan order instead: better when per-build overhead bounds the run), critical-path (ties by name) or fifo',
  ),
  nats: text(
    'nats',
    '<url>',
    'NATS server with JetStream (e.g. nats://127.0.0.1:4222); nats://user:pass@host:port or nats://token@host:port authenticates (shown with the secret hidden)',
    { env: ['NATS_URL'] },
  ),
  natsCreds: text(
    'nats-creds',
    '<file>',
    'NATS credentials file (user JWT and nkey seed, as nsc writes it)',
    {
      env: ['NATS_CREDS'],
    },
  ),
  natsNkey: text('nats-nkey', '<file>', 'file holding the nkey seed (SU…) to authenticate to NATS with', {
    env: ['NATS_NKEY'],
  }),
  natsUser: text('nats-user', '<user>', 'NATS user name (with --nats-password)', { env: ['NATS_USER'] }),
  natsPassword: text(
    'nats-password',
    '<password>',
    'NATS password (prefer the environment: a command line is visible to other local users)',
    { env: ['NATS_PASSWORD'] },
  ),
  natsToken: text('nats-token', '<token>', 'NATS authentication token (prefer the environment)', {
    env: ['NATS_TOKEN'],
  }),
  natsTlsCa: text(
    'nats-tls-ca',
    '<file>',
    'CA certificate (PEM) the NATS server certificate must chain to; turns TLS on',
    { env: ['NATS_TLS_CA'] },
  ),
  natsTlsCert: text(
    'nats-tls-cert',
    '<file>',
    'client certificate (PEM) for a NATS server that requires one (with --nats-tls-key); turns TLS on',
    { env: ['NATS_TLS_CERT'] },
  ),
  natsTlsKey: text('nats-tls-key', '<file>', 'private key (PEM) of --nats-tls-cert', {
    env: ['NATS_TLS_KEY'],
  }),
  namespace: text(
    'namespace',
    '<ns>',
    'prefix of streams, buckets and subjects (the same for coordinator and agents)',
  ),
  leaseMs: count(
    'lease-ms',
    '<ms>',
    1000,
    'how long a build may go without a keep-alive before it is redelivered',
  ),
  listen,
  dashboard,
  advertiseUrl: text(
    'advertise-url',
    '<url>',
    'the repository URL agents use (default the listening address)',
  ),
  repo: text('repo', '<dir>', 'checkout of the repository the coordinator reads'),
  id: text('id', '<name>', 'agent name in progress and traces (default host-arch-pid)'),
  buildTimeout: count(
    'build-timeout',
    '<minutes>',
    1,
    'abandon a build running longer (it is retried elsewhere)',
  ),
  // ── build logs and metrics ────────────────────────────────────────────────────────────
  logMaxBytes: count(
    'log-max-bytes',
    '<bytes>',
    0,
    "per-build cap of a build's kept log text; past it a marker line says the log was truncated (0 keeps no logs)",
  ),
  logRetention: count(
    'log-retention',
    '<runs>',
    1,
    'keep the build logs of this many runs (the newest; older ones are removed as a run begins)',
  ),
  run: text('run', '<id>', 'the run (default the latest one with logs)'),
  follow: on('follow', 'with a running build, print its log as it is written until it finishes'),
  drainTimeout: count(
    'drain-timeout',
    '<seconds>',
    1,
    'on SIGTERM or Ctrl-C, how long to keep offering a finished build to a coordinator that does not take it; then the agent gives up, exits 1, and the build is redelivered when its lease runs out',
  ),

  // ── reading a repository (graph, plan, build-all, coordinator) ─────────────────────────
  noParseCache: on('no-parse-cache', 'parse every config again (do not use the parse cache)', {
    deprecated: ['no-cache'],
  }),
  parseCacheDir: text('parse-cache-dir', '<dir>', 'where parsed configs are cached', {
    deprecated: ['cache-dir'],
  }),
  parseWorkers: count(
    'parse-workers',
    '<n>',
    0,
    'parse worker threads (default: 0 on ≤ 2 cores, else cores − 1, at most 4)',
    { deprecated: ['workers'] },
  ),
  pipelineNeeds: on('pipeline-needs', 'also count the needs.packages of every uses: pipeline as build deps'),
  cyclePolicy: oneOf(
    'cycle-policy',
    '<policy>',
    ['bootstrap', 'serial'],
    'bootstrap (cycle members in parallel) or serial (break edges in name order)',
  ),
  durations: text('durations', '<file>', 'JSON of config → seconds, for the costliest path'),
  resources: on('resources', 'estimate costs from package.resources.cpu for the costliest path'),
  maxDepth: count('max-depth', '<n>', 1, 'with --with-dependents: how many dependency steps to follow'),
  published: texts(
    'published',
    '<APKINDEX>',
    'published index: configs whose version is there are up to date (repeatable)',
  ),
  format: text('format', '<format>', 'output format'),

  // ── compile ────────────────────────────────────────────────────────────────────────────
  all: on('all', 'compile every config of the repository directory and report failures'),
  json: on('json', 'print JSON'),
  noWarnings: on('no-warnings', 'do not print warnings (unknown keys)'),

  // ── keys, packages, indexes (as melange and apk name them) ─────────────────────────────
  signingKeys: texts(
    'signing-key',
    '<key>',
    'RSA private key (PEM) to sign with (repeatable: one signature each)',
    {
      melange: 'signing-key',
    },
  ),
  keyName: text('name', '<name>', 'key file base name'),
  keySize: count('key-size', '<bits>', 2048, 'RSA key size in bits', {
    melange: 'key-size',
    deprecated: ['bits'],
  }),
  keyDir: text('dir', '<dir>', 'directory to write the keys into', { short: 'C' }),
  force: on('force', 'overwrite existing files'),
  output: text('output', '<file>', 'file to write', { short: 'o' }),
  apkArch: text(
    'arch',
    '<arch>',
    'apk architecture, as written in the package or index (x86_64, aarch64, noarch …)',
  ),
  pkgName: text('name', '<name>', 'package name'),
  pkgVersion: text('version', '<version>', 'full package version, e.g. 1.2.3-r0'),
  depends: words('depends', '<dep>', 'dependency (repeatable, or comma-separated)'),
  provides: words('provides', '<name[=ver]>', 'provided name (repeatable, or comma-separated)'),
  replaces: words('replaces', '<name>', 'package whose files this one may overwrite (repeatable)'),
  installIf: words(
    'install-if',
    '<dep>',
    'install automatically when all of these are installed (repeatable)',
  ),
  triggers: words('triggers', '<glob>', 'trigger directory glob (repeatable; needs --script trigger=FILE)'),
  script: texts('script', '<type=file>', 'install script, e.g. post-install=FILE (repeatable)'),
  origin: text('origin', '<name>', 'source package name (default: --name)'),
  description: text('description', '<text>', 'one-line description'),
  url: text('url', '<url>', 'project URL'),
  license: text('license', '<spdx>', 'SPDX license expression'),
  commit: text('commit', '<sha>', 'VCS commit of the recipe'),
  maintainer: text('maintainer', '<who>', 'Name <email>'),
  providerPriority: integer('provider-priority', '<n>', 'provider priority'),
  replacesPriority: integer('replaces-priority', '<n>', 'replaces priority'),
  merge: on('merge', 'keep the entries of the existing output index (replacing same name+version)'),
  rewriteArch: text('rewrite-arch', '<arch>', 'write this arch as A: (e.g. for noarch packages)'),
  repositories: texts(
    'repository-append',
    '<repo>',
    'repository: directory or http(s) URL, "@tag URL" to pin (repeatable)',
    {
      short: 'X',
      deprecated: ['repository'],
    },
  ),
  keyrings: texts('keyring-append', '<key>', 'trusted public key file or directory (repeatable)', {
    deprecated: ['keyring'],
  }),
  allowUntrusted: on('allow-untrusted', 'accept unsigned or untrusted indexes'),

  // ── image ──────────────────────────────────────────────────────────────────────────────
  image: words(
    'image',
    '<kind>',
    "images to build, comma-separated or repeated: coordinator, agent, daemons (buildkitd and nats-server for tests; this machine's arch only)",
  ),
  imageOutput: text('output', '<dir>', 'directory the OCI archives are written to', { short: 'o' }),

  // ── daemons ────────────────────────────────────────────────────────────────────────────
  stateDir: text('state-dir', '<dir>', 'where sockets, state and logs live'),
  noNats: on('no-nats', 'do not start nats-server'),
  natsInsecure: on(
    'nats-insecure',
    'start nats-server without TLS and authentication (debugging only: whoever reaches the port may do anything)',
  ),

  // ── nats-config ────────────────────────────────────────────────────────────────────────
  outputDir: text('output', '<dir>', 'directory to write into', { short: 'o' }),
  natsHosts: words(
    'host',
    '<name>',
    'names and addresses clients reach the NATS server at: the server certificate is valid for these (repeatable, or comma-separated)',
  ),
  purge: on('purge', 'also remove their state (build caches, JetStream store)'),
} as const;
