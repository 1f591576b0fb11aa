import * as grpc from '@grpc/grpc-js';
import { ConnectError } from '../errors.js';
import type { Definition } from '../llb/definition.js';
import type { Platform } from '../llb/types.js';
import { control } from '../proto.js';
import { credentials, type ParsedAddress, parseAddress, probe, type TlsOptions } from './address.js';
import { rpcError, unary, CONTROL, serializer, deserializer } from './rpc.js';
import { type SolveControl, type SolveOptions, type SolveResult, solve } from './solve.js';

export interface ConnectOptions {
  readonly tls?: TlsOptions;
  /** How long to wait for the daemon (default 5000 ms). */
  readonly timeoutMs?: number;
}

export interface BuildkitVersion {
  readonly package: string;
  readonly version: string;
  readonly revision: string;
}

export interface WorkerInfo {
  readonly id: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly platforms: readonly Platform[];
  readonly buildkitVersion: BuildkitVersion | undefined;
}

export interface UsageRecord {
  readonly id: string;
  readonly mutable: boolean;
  readonly inUse: boolean;
  readonly size: number;
  readonly createdAt: Date | undefined;
  readonly lastUsedAt: Date | undefined;
  readonly usageCount: number;
  readonly description: string;
  readonly recordType: string;
  readonly shared: boolean;
  readonly parents: readonly string[];
}

export interface PruneOptions {
  /** Remove everything, including records still considered useful (`buildctl prune --all`). */
  readonly all?: boolean;
  /** Filters like `type==exec.cachemount`, `id==…`. */
  readonly filter?: readonly string[];
  /** Keep records used within this many milliseconds. */
  readonly keepDurationMs?: number;
  /** Keep this many bytes of cache. */
  readonly keepBytes?: number;
}

interface WireUsage {
  ID: string;
  Mutable: boolean;
  InUse: boolean;
  Size: number;
  CreatedAt: { seconds: number; nanos: number } | null;
  LastUsedAt: { seconds: number; nanos: number } | null;
  UsageCount: number;
  Description: string;
  RecordType: string;
  Shared: boolean;
  Parents: string[];
}

function usage(r: WireUsage): UsageRecord {
  const t = (x: WireUsage['CreatedAt']) =>
    x && x.seconds > 0 ? new Date(x.seconds * 1000 + x.nanos / 1e6) : undefined;
  return {
    id: r.ID,
    mutable: r.Mutable,
    inUse: r.InUse,
    size: r.Size,
    createdAt: t(r.CreatedAt),
    lastUsedAt: t(r.LastUsedAt),
    usageCount: r.UsageCount,
    description: r.Description,
    recordType: r.RecordType,
    shared: r.Shared,
    parents: r.Parents,
  };
}

/** A connection to one buildkitd. One client serves any number of concurrent solves. */
export class BuildkitClient {
  readonly address: string;
  /** @internal the underlying grpc-js client. */
  readonly grpc: grpc.Client;

  private constructor(address: string, client: grpc.Client) {
    this.address = address;
    this.grpc = client;
  }

  /**
   * Connects to `unix:///path`, `tcp://host:port` (optionally mTLS) and waits until the channel
   * is ready; fails within `timeoutMs` with a ConnectError naming the address and the cause.
   */
  static async connect(address: string, opts: ConnectOptions = {}): Promise<BuildkitClient> {
    const addr: ParsedAddress = parseAddress(address);
    const timeoutMs = opts.timeoutMs ?? 5000;
    const channelOptions: grpc.ChannelOptions = {
      'grpc.max_receive_message_length': 64 << 20,
      'grpc.max_send_message_length': 64 << 20,
      // Exports stream through this connection; the default 64 KiB window throttles them.
      'grpc-node.flow_control_window': 32 << 20,
      ...(opts.tls?.serverName ? { 'grpc.ssl_target_name_override': opts.tls.serverName } : {}),
    };
    // A raw connect first: a missing socket or a refused port fails now, not after timeoutMs.
    const early = await probe(addr, timeoutMs);
    if (early !== undefined) throw new ConnectError(address, early);
    const client = new grpc.Client(addr.target, credentials(address, opts.tls), channelOptions);
    const started = Date.now();
    try {
      await new Promise<void>((resolve, reject) =>
        client.waitForReady(Date.now() + timeoutMs, (e) => (e ? reject(e) : resolve())),
      );
    } catch (e) {
      client.close();
      const left = Math.max(200, timeoutMs - (Date.now() - started));
      throw new ConnectError(
        address,
        (await probe(addr, Math.min(left, 2000))) ??
          'the connection opens but gRPC did not become ready (TLS mismatch, or not buildkitd?)',
        { cause: e },
      );
    }
    return new BuildkitClient(address, client);
  }

  close(): void {
    this.grpc.close();
  }

  async info(): Promise<BuildkitVersion> {
    try {
      const r = await unary<{ buildkitVersion: BuildkitVersion | null }>(
        this.grpc,
        'Info',
        control.InfoRequest,
        control.InfoResponse,
        {},
      ).result;
      return r.buildkitVersion ?? { package: '', version: '', revision: '' };
    } catch (e) {
      throw rpcError('Info', e);
    }
  }

  async listWorkers(filter: readonly string[] = []): Promise<WorkerInfo[]> {
    try {
      const r = await unary<{
        record: {
          ID: string;
          Labels: Record<string, string>;
          platforms: { Architecture: string; OS: string; Variant: string }[];
          BuildkitVersion: BuildkitVersion | null;
        }[];
      }>(this.grpc, 'ListWorkers', control.ListWorkersRequest, control.ListWorkersResponse, {
        filter: [...filter],
      }).result;
      return r.record.map((w) => ({
        id: w.ID,
        labels: w.Labels,
        platforms: w.platforms.map((p) =>
          p.Variant
            ? { os: p.OS, architecture: p.Architecture, variant: p.Variant }
            : { os: p.OS, architecture: p.Architecture },
        ),
        buildkitVersion: w.BuildkitVersion ?? undefined,
      }));
    } catch (e) {
      throw rpcError('ListWorkers', e);
    }
  }

  async diskUsage(filter: readonly string[] = []): Promise<UsageRecord[]> {
    try {
      const r = await unary<{ record: WireUsage[] }>(
        this.grpc,
        'DiskUsage',
        control.DiskUsageRequest,
        control.DiskUsageResponse,
        { filter: [...filter] },
      ).result;
      return r.record.map(usage);
    } catch (e) {
      throw rpcError('DiskUsage', e);
    }
  }

  /** Removes cache records; returns what was removed. */
  async prune(opts: PruneOptions = {}): Promise<UsageRecord[]> {
    const req: Record<string, unknown> = { filter: [...(opts.filter ?? [])] };
    if (opts.all) req['all'] = true;
    if (opts.keepDurationMs) req['keepDuration'] = opts.keepDurationMs * 1e6;
    if (opts.keepBytes) req['reservedSpace'] = opts.keepBytes;
    const call = this.grpc.makeServerStreamRequest<Record<string, unknown>, WireUsage>(
      `${CONTROL}Prune`,
      serializer(control.PruneRequest),
      deserializer<WireUsage>(control.UsageRecord),
      req,
    );
    const out: UsageRecord[] = [];
    try {
      for await (const r of call as AsyncIterable<WireUsage>) out.push(usage(r));
    } catch (e) {
      throw rpcError('Prune', e);
    }
    return out;
  }

  /**
   * Solves `def`: opens a session (local dirs, secrets, client-side exports), streams progress
   * to `ctl.onEvent`, and resolves once the build and every export finished.
   */
  solve(def: Definition, opts: SolveOptions = {}, ctl: SolveControl = {}): Promise<SolveResult> {
    return solve(this, def, opts, ctl);
  }
}
