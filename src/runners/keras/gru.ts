import { tf } from '../../backend/tf.js';
import { tfl } from '../tfl.js';

/**
 * Keras' GRU with reset_after=True (the default since Keras 2.3 and in Keras 3), which
 * tfjs-layers refuses: the reset gate is applied after the recurrent kernel, and there are two
 * biases, one for the input and one for the recurrent product (bias of shape [2, 3 units]):
 *
 *   x_z, x_r, x_h = split(x W + b_in)       r_z, r_r, r_h = split(h U + b_rec)
 *   z = recurrent_activation(x_z + r_z)     r = recurrent_activation(x_r + r_r)
 *   hh = activation(x_h + r * r_h)          h' = z * h + (1 - z) * hh
 *
 * (keras/src/layers/rnn/gru.py, GRUCell.call). The normalised config (config.ts) names such a
 * layer PARITY_GRU; tfjs-layers' RNN runs the steps (return_sequences, go_backwards,
 * return_state, masks). Its class name stays PARITY_GRU, which Bidirectional needs to clone it
 * (the runner shows it as 'GRU'). Inference only: dropout is not applied, as in Keras' predict.
 */
export const PARITY_GRU = 'ParityGRUResetAfter';

type Args = Record<string, unknown> & { units: number };
interface CellBase {
  units: number;
  useBias: boolean;
  activation: { apply(x: tf.Tensor): tf.Tensor };
  recurrentActivation: { apply(x: tf.Tensor): tf.Tensor };
  kernelInitializer: unknown;
  recurrentInitializer: unknown;
  biasInitializer: unknown;
  kernelConstraint: unknown;
  recurrentConstraint: unknown;
  biasConstraint: unknown;
  kernel: tfl.LayerVariable;
  recurrentKernel: tfl.LayerVariable;
  bias: tfl.LayerVariable | null;
  built: boolean;
  dropoutMask: tf.Tensor | tf.Tensor[] | null;
  recurrentDropoutMask: tf.Tensor | tf.Tensor[] | null;
  addWeight(name: string, shape: number[], dtype: null, initializer: unknown, regularizer: null, trainable: boolean, constraint: unknown): tfl.LayerVariable;
  getConfig(): Record<string, unknown>;
}
type Ctor<T> = new (args: Args) => T;

let registered = false;

/** Registers the layer with tfjs' serialization (once), so that modelFromJSON builds it. */
export function registerResetAfterGru(): void {
  if (registered) return;
  registered = true;
  // tfjs-layers exports the GRU cell only through its factory: its class is the prototype's constructor.
  const GRUCell = Object.getPrototypeOf(tfl.layers.gruCell({ units: 1 })).constructor as Ctor<CellBase>;
  const RNN = tfl.RNN as unknown as Ctor<{ cell: CellBase; call(inputs: unknown, kwargs: unknown): unknown }> & { prototype: { call(inputs: unknown, kwargs: unknown): unknown } };

  class ResetAfterCell extends GRUCell {
    constructor(args: Args) {
      // tfjs' cell throws on resetAfter; the weights and the step are this class's own.
      super({ ...args, resetAfter: false });
    }

    build(inputShape: (number | null)[] | (number | null)[][]): void {
      const shape = (Array.isArray(inputShape[0]) ? inputShape[0] : inputShape) as (number | null)[];
      const inputDim = shape[shape.length - 1]!;
      const u = this.units;
      this.kernel = this.addWeight('kernel', [inputDim, u * 3], null, this.kernelInitializer, null, true, this.kernelConstraint);
      this.recurrentKernel = this.addWeight('recurrent_kernel', [u, u * 3], null, this.recurrentInitializer, null, true, this.recurrentConstraint);
      this.bias = this.useBias ? this.addWeight('bias', [2, u * 3], null, this.biasInitializer, null, true, this.biasConstraint) : null;
      this.built = true;
    }

    call(inputs: tf.Tensor[]): tf.Tensor[] {
      return tf.tidy(() => {
        const [x, h] = inputs as [tf.Tensor2D, tf.Tensor2D];
        let mx: tf.Tensor2D = tf.matMul(x, this.kernel.read() as tf.Tensor2D);
        let mi: tf.Tensor2D = tf.matMul(h, this.recurrentKernel.read() as tf.Tensor2D);
        if (this.bias) {
          const [bIn, bRec] = tf.unstack(this.bias.read(), 0);
          mx = tf.add(mx, bIn!);
          mi = tf.add(mi, bRec!);
        }
        const [xz, xr, xh] = tf.split(mx, 3, -1);
        const [rz, rr, rh] = tf.split(mi, 3, -1);
        const z = this.recurrentActivation.apply(tf.add(xz!, rz!));
        const r = this.recurrentActivation.apply(tf.add(xr!, rr!));
        const hh = this.activation.apply(tf.add(xh!, tf.mul(r, rh!)));
        const next = tf.add(tf.mul(z, h), tf.mul(tf.sub(1, z), hh));
        return [next, next];
      });
    }

    override getConfig(): Record<string, unknown> {
      return { ...super.getConfig(), resetAfter: true };
    }
  }

  class ResetAfterGRU extends RNN {
    static className = PARITY_GRU;

    constructor(args: Args) {
      super({ ...args, cell: new ResetAfterCell(args) });
    }

    // As tfjs' GRU: masks, the training flag and an initial state go on to the RNN.
    override call(inputs: unknown, kwargs: Record<string, unknown> | null): unknown {
      return tf.tidy(() => {
        for (const k of ['dropoutMask', 'recurrentDropoutMask'] as const) {
          const m = this.cell[k];
          if (m) {
            tf.dispose(m);
            this.cell[k] = null;
          }
        }
        const kw = kwargs ?? {};
        return RNN.prototype.call.call(this, inputs, { mask: kw.mask ?? null, training: kw.training ?? null, initialState: kw.initialState ?? null }) as tf.Tensor;
      });
    }

    static fromConfig(cls: Ctor<ResetAfterGRU>, config: Args): ResetAfterGRU {
      return new cls(config);
    }
  }

  tf.serialization.registerClass(ResetAfterGRU as unknown as Parameters<typeof tf.serialization.registerClass>[0]);
}
