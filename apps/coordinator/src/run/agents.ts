import type { Heartbeat } from '@melange2/protocol';

interface AgentSeen {
  readonly arch: string;
  readonly slots: number;
  readonly at: number;
}

/**
 * The agents a coordinator has heard from: their slots per arch, as long as their heartbeats
 * keep coming. Dispatch hands out only as many builds as these slots.
 */
export class AgentRegistry {
  readonly #agents = new Map<string, AgentSeen>();
  readonly #noAgentsSince = new Map<string, number>();
  /** Idle slots per arch seen on the queue at the start, and when: counted until they time out. */
  readonly #seen = new Map<string, { readonly slots: number; readonly at: number }>();

  /** An agent that sent no heartbeat for `timeoutMs` no longer counts. */
  constructor(readonly timeoutMs = 10_000) {}

  /** Slots per arch as counted at `at` (ms): the pump asks for every report, the answer only changes with time or a heartbeat. */
  #counted: { at: number; slots: Map<string, number> } | undefined;

  heartbeat(e: Heartbeat, now = Date.now()): void {
    // The builds it pulls ahead of its free slots count as slots: dispatched to at once, they are
    // on the agent when a slot frees.
    if (e.alive) this.#agents.set(e.agent, { arch: e.arch, slots: e.slots + (e.prefetch ?? 0), at: now });
    else this.#agents.delete(e.agent);
    this.#counted = undefined;
  }

  /**
   * Agents' pulls found waiting on the queue of `arch` (idle slots): a run can dispatch to them at
   * once instead of waiting up to a heartbeat interval to hear from the agents. Counted as slots
   * until `timeoutMs` has passed or the heartbeats account for more.
   */
  idle(arch: string, slots: number, now = Date.now()): void {
    if (slots > 0) this.#seen.set(arch, { slots, at: now });
  }

  /** Slots of the live agents of `arch`, with the builds they pull ahead (forgets the agents that went quiet). */
  capacity(arch: string, now = Date.now()): number {
    if (this.#counted?.at !== now) {
      const cutoff = now - this.timeoutMs;
      const slots = new Map<string, number>();
      for (const [id, a] of this.#agents) {
        if (a.at < cutoff) this.#agents.delete(id);
        else slots.set(a.arch, (slots.get(a.arch) ?? 0) + a.slots);
      }
      this.#counted = { at: now, slots };
    }
    const n = this.#counted.slots.get(arch) ?? 0;
    const idle = this.#seen.get(arch);
    if (idle && (idle.at < now - this.timeoutMs || idle.slots <= n)) this.#seen.delete(arch);
    else if (idle) return idle.slots;
    return n;
  }

  /**
   * Whether to say that `arch` has builds waiting and no agent: after 5 s without one, then
   * about every 30 s (the pump runs every 500 ms).
   */
  noAgents(arch: string, capacity: number, waiting: number, now = Date.now()): boolean {
    if (capacity > 0 || waiting === 0) {
      this.#noAgentsSince.delete(arch);
      return false;
    }
    const since = this.#noAgentsSince.get(arch) ?? now;
    this.#noAgentsSince.set(arch, since);
    return now - since > 5000 && (now - since) % 30_000 < 500;
  }
}
