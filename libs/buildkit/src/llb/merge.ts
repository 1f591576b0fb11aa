import { State } from './state.js';
import type { OpOptions } from './types.js';
import {
  constraintsFields,
  inputIndex,
  type MarshalContext,
  type MarshaledOp,
  opMetadata,
  type Output,
  type Vertex,
} from './vertex.js';

export class MergeOp implements Vertex {
  readonly kind = 'merge';
  readonly inputs: readonly Output[];
  readonly #refs: readonly number[];
  readonly #opts: OpOptions;

  constructor(outputs: readonly Output[], opts: OpOptions) {
    const inputs: Output[] = [];
    this.#refs = outputs.map((o) => inputIndex(inputs, o));
    this.inputs = inputs;
    this.#opts = opts;
  }

  marshal(ctx: MarshalContext): MarshaledOp {
    return {
      op: {
        merge: { inputs: this.#refs.map((input) => ({ input })) },
        ...constraintsFields(undefined, ctx, false),
      },
      metadata: opMetadata(this.#opts),
    };
  }
}

/**
 * Layers states on top of each other, later ones winning (MergeOp). Scratch inputs are dropped;
 * merging nothing is scratch and merging one state is that state.
 */
export function merge(states: readonly State[], opts: OpOptions = {}): State {
  const outs = states.map((s) => s.output()).filter((o): o is Output => o !== undefined);
  const first = states[0];
  if (outs.length === 0) return first ?? new State(undefined);
  if (outs.length === 1) return states.find((s) => !s.isScratch()) ?? new State(undefined);
  const base = states.find((s) => !s.isScratch()) ?? new State(undefined);
  return base.withOutput({ vertex: new MergeOp(outs, base.opDefaults(opts)), index: 0 });
}

export class DiffOp implements Vertex {
  readonly kind = 'diff';
  readonly inputs: readonly Output[];
  readonly #lower: number;
  readonly #upper: number;
  readonly #opts: OpOptions;

  constructor(lower: Output | undefined, upper: Output | undefined, opts: OpOptions) {
    const inputs: Output[] = [];
    this.#lower = lower ? inputIndex(inputs, lower) : -1;
    this.#upper = upper ? inputIndex(inputs, upper) : -1;
    this.inputs = inputs;
    this.#opts = opts;
  }

  marshal(ctx: MarshalContext): MarshaledOp {
    return {
      op: {
        diff: { lower: { input: this.#lower }, upper: { input: this.#upper } },
        ...constraintsFields(undefined, ctx, false),
      },
      metadata: opMetadata(this.#opts),
    };
  }
}

/** The changes that turn `lower` into `upper` (DiffOp), as a state you can merge elsewhere. */
export function diff(lower: State, upper: State, opts: OpOptions = {}): State {
  if (upper.isScratch()) return new State(undefined, upper.meta);
  return upper.withOutput({
    vertex: new DiffOp(lower.output(), upper.output(), upper.opDefaults(opts)),
    index: 0,
  });
}
