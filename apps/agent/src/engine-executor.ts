import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve, sep } from 'node:path';
import type { SigningKey } from '@melange2/apk';
import type { BuildkitClient, SolveEvent } from '@melange2/buildkit';
import { type BuildEvent, buildPackage, type LayerServer } from '@melange2/engine';
import { type BuildJob, fileDigest, type Staging, stagingKey } from '@melange2/protocol';
import { type Context, type Span, SpanStatusCode } from '@opentelemetry/api';
import { type Executor, tracer } from './agent.js';
import { ProgressLines } from './build-log.js';

export interface EngineExecutorOptions {
  /** The repository checkout the jobs' config paths are relative to. */
  readonly repoRoot: string;
  readonly client: BuildkitClient;
  /**
   * The key packages are signed with as they are packed: the agent's own (a fresh one per
   * process on NATS), never the repository key; the coordinator signs them again with that.
   */
  readonly signingKey: SigningKey;
  readonly staging: Staging;
  /**
   * Where a job's environment installs from: the agent's own configuration plus the published
   * repository the coordinator names in its run info. Never taken from the job.
   */
  readonly sources: (job: BuildJob) => Promise<EnvironmentSources>;
  readonly cacheDir?: string;
  /** melange's `--cache-dir`: a host directory every build sees at /var/cache/melange. */
  readonly buildCacheDir?: string;
  /** `--git-mirror`: bare mirrors git-checkout clones from. */
  readonly gitMirror?: string;
  /** Serves environment packages to the daemon over HTTP (it must reach the server). */
  readonly layerServer?: LayerServer;
  readonly onEvent?: (job: BuildJob, e: BuildEvent) => void;
}

/** Repositories (the published one first) and trusted keys (files, directories or URLs). */
export interface EnvironmentSources {
  readonly repositories: readonly string[];
  readonly keyring: readonly string[];
}

/** Spans from the build's progress: one per stage, one per BuildKit vertex (with `cached`). */
class BuildSpans {
  readonly #vertices = new Map<string, Span>();
  #stage: Span | undefined;
  constructor(readonly parent: Context) {}

  on(e: BuildEvent): void {
    if (e.type === 'stage') {
      this.#stage?.end();
      this.#stage = tracer.startSpan(e.stage, {}, this.parent);
    } else if (e.type === 'solve') this.#vertex(e.event);
  }

  #vertex(ev: SolveEvent): void {
    if (ev.type === 'vertex.started') {
      if (this.#vertices.has(ev.vertex.digest)) return;
      this.#vertices.set(
        ev.vertex.digest,
        tracer.startSpan(
          ev.vertex.name,
          { startTime: ev.started, attributes: { 'buildkit.vertex': ev.vertex.digest } },
          this.parent,
        ),
      );
    } else if (
      ev.type === 'vertex.completed' ||
      ev.type === 'vertex.cached' ||
      ev.type === 'vertex.errored'
    ) {
      const at = ev.type === 'vertex.cached' ? ev.at : ev.completed;
      const span =
        this.#vertices.get(ev.vertex.digest) ??
        tracer.startSpan(
          ev.vertex.name,
          { startTime: at, attributes: { 'buildkit.vertex': ev.vertex.digest } },
          this.parent,
        );
      this.#vertices.delete(ev.vertex.digest);
      span.setAttribute('buildkit.cached', ev.type === 'vertex.cached');
      if (ev.type === 'vertex.errored') span.setStatus({ code: SpanStatusCode.ERROR, message: ev.error });
      span.end(at);
    }
  }

  end(): void {
    this.#stage?.end();
    for (const s of this.#vertices.values()) s.end();
    this.#vertices.clear();
  }
}

/**
 * Builds a job with libs/engine into a private output directory (the environment installs from
 * `sources`, the published repository first), then puts the packages into staging with their
 * sha256 and size for the report. The index in that private directory is thrown away: the
 * coordinator is the only index writer, and the only signer.
 */
export function engineExecutor(o: EngineExecutorOptions): Executor {
  const root = resolve(o.repoRoot);
  return async (job, ctx) => {
    const configFile = resolve(root, job.configFile);
    if (!configFile.startsWith(root + sep))
      throw new Error(`${job.configFile}: outside the repository ${root}`);
    const sources = await o.sources(job);
    const out = await mkdtemp(join(tmpdir(), 'm2-agent-'));
    const spans = new BuildSpans(ctx.trace);
    const lines = new ProgressLines(ctx.log);
    // When each stage began: sent in the report, the coordinator's trace nests them in the build.
    const stages: { stage: string; at: number }[] = [];
    try {
      const r = await buildPackage({
        configFile,
        arch: job.arch,
        client: o.client,
        outDir: out,
        signingKey: o.signingKey,
        repositoryAppend: sources.repositories,
        keyringAppend: sources.keyring,
        ...(o.cacheDir ? { cacheDir: o.cacheDir } : {}),
        ...(o.buildCacheDir ? { buildCacheDir: o.buildCacheDir } : {}),
        ...(o.gitMirror ? { gitMirror: o.gitMirror } : {}),
        ...(o.layerServer ? { layerServer: o.layerServer } : {}),
        ...(job.awaiting?.length ? { awaiting: job.awaiting } : {}),
        signal: ctx.signal,
        onEvent: (e) => {
          if (e.type === 'stage' && stages.length < 16) stages.push({ stage: e.stage, at: Date.now() });
          spans.on(e);
          lines.build(e);
          o.onEvent?.(job, e);
        },
      });
      spans.end();
      const upload = tracer.startSpan('stage packages', {}, ctx.trace);
      ctx.log('== publish: staging the packages for the coordinator');
      try {
        const apks = await Promise.all(
          r.apks.map(async (a) => {
            const filename = a.path.slice(a.path.lastIndexOf('/') + 1);
            const key = stagingKey(job, filename);
            const digest = await fileDigest(a.path);
            await o.staging.put(key, a.path);
            ctx.log(`staged ${filename} for publishing (${key})`);
            return { filename, key, ...digest };
          }),
        );
        return {
          kind: 'succeeded',
          apks,
          steps: { total: r.solve.summary.total, cached: r.solve.summary.cached },
          ...(stages.length > 0 ? { stages } : {}),
        };
      } finally {
        upload.end();
      }
    } finally {
      spans.end();
      await rm(out, { recursive: true, force: true });
    }
  };
}
