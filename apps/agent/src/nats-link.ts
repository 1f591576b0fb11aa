import type { NatsConnection } from '@nats-io/transport-node';
import type { AgentEvent, BuildReport, CoordinatorLink, ReportAck } from './contract.js';

/** Subjects of one namespace (several runs/tests can share a server under different ones). */
export function subjects(ns: string) {
  return {
    results: `${ns}.results`,
    events: `${ns}.events`,
  };
}

/**
 * The agent's side over NATS: events are plain publishes (lost when nobody listens, which is
 * fine for progress and heartbeats); a report is a request the coordinator answers only once it
 * has published the packages or recorded the failure, so the agent acks its message after that.
 */
export function natsLink(nc: NatsConnection, ns: string, o: { timeoutMs?: number } = {}): CoordinatorLink {
  const s = subjects(ns);
  return {
    event(e: AgentEvent): void {
      try {
        nc.publish(s.events, JSON.stringify(e));
      } catch {
        // A closed connection: the agent is going away anyway.
      }
    },
    async report(r: BuildReport): Promise<ReportAck> {
      // Short, and the agent asks again: a coordinator killed while it handled the report never
      // answers, and a repeated report is safe (it waits for the first one to be recorded).
      const m = await nc.request(s.results, JSON.stringify(r), { timeout: o.timeoutMs ?? 15_000 });
      const a = m.json<ReportAck | { ok: false; error: string }>();
      if (!a.ok) throw new Error(`coordinator refused the report: ${a.error}`);
      return a;
    },
  };
}
