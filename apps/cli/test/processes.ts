// A CLI process run by a test: its output as it comes, waiting for a line, its exit.
import type { ChildProcess } from 'node:child_process';

/** A running CLI process: its output so far, and a way to wait for a line. */
export class Proc {
  stdout = '';
  stderr = '';
  readonly exited: Promise<number | null>;
  readonly #waiters: { re: RegExp; resolve: (m: RegExpExecArray) => void }[] = [];

  constructor(
    readonly name: string,
    readonly child: ChildProcess,
  ) {
    child.stdout?.setEncoding('utf8').on('data', (s: string) => {
      this.stdout += s;
    });
    child.stderr?.setEncoding('utf8').on('data', (s: string) => {
      this.stderr += s;
      for (const w of [...this.#waiters]) {
        const m = w.re.exec(this.stderr);
        if (m) {
          this.#waiters.splice(this.#waiters.indexOf(w), 1);
          w.resolve(m);
        }
      }
    });
    this.exited = new Promise((r) => child.on('exit', (code) => r(code)));
  }

  /** Resolves when stderr matches `re`; rejects on exit or after `ms`, with the output so far. */
  waitFor(re: RegExp, ms = 60_000): Promise<RegExpExecArray> {
    const now = re.exec(this.stderr);
    if (now) return Promise.resolve(now);
    return new Promise((resolve, reject) => {
      const fail = (why: string) =>
        reject(new Error(`${this.name}: ${why} waiting for ${re}\n--- stderr\n${this.stderr}`));
      const t = setTimeout(() => fail(`timed out after ${ms} ms`), ms);
      void this.exited.then((c) => fail(`exited with ${c}`));
      this.#waiters.push({
        re,
        resolve: (m) => {
          clearTimeout(t);
          resolve(m);
        },
      });
    });
  }

  /** The exit code; rejects with the output so far if the process is still running after `ms`. */
  exit(ms = 90_000): Promise<number | null> {
    return new Promise((resolve, reject) => {
      const t = setTimeout(
        () => reject(new Error(`${this.name}: still running after ${ms} ms\n--- stderr\n${this.stderr}`)),
        ms,
      );
      void this.exited.then((c) => {
        clearTimeout(t);
        resolve(c);
      });
    });
  }

  kill(): Promise<number | null> {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill('SIGKILL');
    return this.exited;
  }
}

/** The first of `procs` whose stderr matches `re`. */
export function firstToSay(procs: readonly Proc[], re: RegExp): Promise<Proc> {
  return Promise.any(
    procs.map(async (p) => {
      await p.waitFor(re);
      return p;
    }),
  );
}
