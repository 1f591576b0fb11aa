import { InboxRequests, QueueError } from '@melange2/queue';
import type { Msg, NatsConnection, Subscription } from '@nats-io/transport-node';
import { answerCodec, eventCodec, reportCodec } from './codec.js';
import { ForgedReportError, ReportRefusedError } from './errors.js';
import { type AgentEvent, type BuildReport, clip, type ReportAck, type ReportAnswer } from './messages.js';
import { natsNames } from './names.js';

/** The agent's line back to the coordinator: in-process (embedded) or over NATS. */
export interface CoordinatorLink {
  event(e: AgentEvent): void;
  /** Resolves once the coordinator has taken the report (published it, or recorded the failure). */
  report(r: BuildReport): Promise<ReportAck>;
}

/**
 * The agent's side over NATS: events are plain publishes (lost when nobody listens, which is
 * fine for progress and heartbeats); a report is a request the coordinator answers only once it
 * has published the packages or recorded the failure, so the agent acks its message after that.
 */
export function natsLink(nc: NatsConnection, ns: string, o: { timeoutMs?: number } = {}): CoordinatorLink {
  const n = natsNames(ns);
  // Short, and the agent asks again: a coordinator killed while it handled the report never
  // answers, and a repeated report is safe (it waits for the first one to be recorded).
  const requests = new InboxRequests(nc, { timeoutMs: o.timeoutMs ?? 15_000, what: 'report' });
  return {
    event(e: AgentEvent): void {
      const data = eventCodec.encode(e);
      try {
        nc.publish(n.events, data);
      } catch {
        // A closed connection: the agent is going away anyway.
      }
    },
    async report(r: BuildReport): Promise<ReportAck> {
      const m = await requests.request(n.results, reportCodec.encode(r));
      // 503: no coordinator listens (the agent asks again).
      if (m.headers?.hasError)
        throw new QueueError(
          `${n.results}: ${m.headers.description || 'no responders'} (${m.headers.code})`,
          'report',
        );
      const a = answerCodec.decode(m.data);
      if (!a.ok) throw new ReportRefusedError(a.error, a.refused);
      return a;
    },
  };
}

const OK_ANSWER = answerCodec.encode({ ok: true });

/** What the coordinator does with what agents send. */
export interface AgentLinkHandler {
  event(e: AgentEvent): void;
  /**
   * Resolves once the report is taken; a rejection is answered as a refusal (final for a
   * `ForgedReportError`, with its code).
   */
  report(r: BuildReport): Promise<ReportAck>;
}

/**
 * The coordinator's side over NATS: decodes every event and report. A message that does not
 * decode (malformed, oversized, another protocol version) is logged and never reaches the
 * handler; a refused report is answered with the reason, so its agent logs it too.
 */
export function serveAgentLink(
  nc: NatsConnection,
  ns: string,
  h: AgentLinkHandler,
  o: { log?: (line: string) => void } = {},
): { close(): void } {
  const n = natsNames(ns);
  const log = o.log ?? (() => {});
  const answer = (m: Msg, a: ReportAnswer) => {
    try {
      // The answer to nearly every report, encoded once.
      m.respond(a.ok && a.stale === undefined ? OK_ANSWER : answerCodec.encode(a));
    } catch (x) {
      // The connection is closing: the agent asks again, of this coordinator or the next.
      log(`could not answer a report: ${(x as Error).message}`);
    }
  };
  const refuse = (m: Msg, error: string) => answer(m, { ok: false, error: clip(error) });
  const subs: Subscription[] = [
    nc.subscribe(n.events, {
      callback: (err, m) => {
        if (err) return;
        let e: AgentEvent;
        try {
          e = eventCodec.decode(m.data);
        } catch (x) {
          log(`dropped a message on ${m.subject}: ${(x as Error).message}`);
          return;
        }
        try {
          h.event(e);
        } catch (x) {
          log(`an agent event failed: ${(x as Error).message}`);
        }
      },
    }),
    nc.subscribe(n.results, {
      callback: (err, m) => {
        if (err) return;
        let r: BuildReport;
        try {
          r = reportCodec.decode(m.data);
        } catch (x) {
          log(`refused a message on ${m.subject}: ${(x as Error).message}`);
          refuse(m, (x as Error).message);
          return;
        }
        h.report(r).then(
          (ack) => answer(m, ack),
          (x: unknown) =>
            x instanceof ForgedReportError
              ? answer(m, { ok: false, error: clip(x.message), refused: x.refused })
              : refuse(m, x instanceof Error ? x.message : String(x)),
        );
      },
    }),
  ];
  return {
    close() {
      for (const s of subs) s.unsubscribe();
    },
  };
}
