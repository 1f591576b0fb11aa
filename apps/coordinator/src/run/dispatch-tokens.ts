import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { RefusalCode } from '@melange2/protocol';

/** SHA-256 of a token (hex): what is kept and recorded, so run state never holds a usable token. */
export const tokenHash = (token: string) => createHash('sha256').update(token).digest('hex');

/** Random bytes drawn per call to the CSPRNG: tokens are cut from them (one call per 256 tokens). */
const POOL_BYTES = 32 * 256;

/** At most this many token hashes of a replaced coordinator are accepted for one attempt. */
const MAX_HASHES = 4;

interface Open {
  readonly attempt: number;
  /** This coordinator's token for the attempt (in memory only: what is recorded is its hash). */
  readonly token: string;
  /** Hashes recorded by the coordinator this one replaced (their jobs may still be queued). */
  readonly prior: readonly string[];
}

export type TokenVerdict =
  | { readonly ok: true }
  | { readonly ok: false; readonly code: RefusalCode; readonly reason: string };

function same(a: string, b: string): boolean {
  if (a.length !== b.length) return false;
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

/** Whether `token` is the attempt's: this coordinator's token, or one whose hash the replaced one recorded. */
function accepts(o: Open, token: string): boolean {
  if (same(o.token, token)) return true;
  if (o.prior.length === 0) return false;
  const h = tokenHash(token);
  return o.prior.some((x) => same(x, h));
}

/**
 * The dispatch tokens of a run: each dispatched attempt has a random token that only its job
 * carries; the report of that attempt must carry it, and it is taken once. A report without the
 * right one is refused and leaves the build waiting for the right one, so a forged report can
 * neither settle a build nor keep it from settling.
 */
export class DispatchTokens {
  readonly #open = new Map<string, Open>();
  /**
   * Tokens already taken, per build (a report carrying one again is a replay). Kept as they
   * are, in memory only: a report is then checked without hashing its token.
   */
  readonly #used = new Map<string, string[]>();
  #pool = Buffer.alloc(0);
  #drawn = 0;

  /** 32 random bytes (hex), cut from a pool drawn from the CSPRNG. */
  #random(): string {
    if (this.#drawn + 32 > this.#pool.length) {
      this.#pool = randomBytes(POOL_BYTES);
      this.#drawn = 0;
    }
    this.#drawn += 32;
    return this.#pool.toString('hex', this.#drawn - 32, this.#drawn);
  }

  /**
   * A new token for attempt `attempt` of `id`, accepted along with `prior`: the hashes of the
   * tokens the jobs of that attempt carry that the coordinator this one replaced made (they may
   * still be queued, or built). Nothing is hashed here: a token of this coordinator is compared
   * as it is.
   */
  issue(id: string, attempt: number, prior: readonly string[] = []): string {
    const token = this.#random();
    this.#open.set(id, { attempt, token, prior: prior.slice(-MAX_HASHES) });
    return token;
  }

  /** Whether a report's token is the one of the attempt in flight (it is not taken yet). */
  check(id: string, attempt: number, token: string): TokenVerdict {
    if (this.#used.get(id)?.some((u) => same(u, token)))
      return {
        ok: false,
        code: 'replayed',
        reason: 'its dispatch token was used already (a replayed report)',
      };
    const o = this.#open.get(id);
    if (!o) return { ok: false, code: 'not-dispatched', reason: 'the build is not in flight' };
    if (o.attempt !== attempt)
      return {
        ok: false,
        code: 'not-dispatched',
        reason: `attempt ${attempt} was never dispatched (attempt ${o.attempt} is in flight)`,
      };
    if (!accepts(o, token))
      return { ok: false, code: 'wrong-token', reason: 'its dispatch token is not the one of the job' };
    return { ok: true };
  }

  /** Takes the token of the attempt in flight: a report carrying it again is a replay. */
  consume(id: string, token: string): void {
    this.#open.delete(id);
    const used = this.#used.get(id);
    if (!used) this.#used.set(id, [token]);
    else if (used.push(token) > MAX_HASHES) used.shift();
  }

  /** The build is no longer in flight (settled otherwise, or put back to be dispatched again). */
  close(id: string): void {
    this.#open.delete(id);
  }
}
