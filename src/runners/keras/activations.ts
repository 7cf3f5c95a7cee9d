import { tf } from '../../backend/tf.js';

/**
 * Keras activations as tfjs-layers activation names. A Keras config names an activation by a
 * string (`'leaky_relu'`), a serialized function (`{module: 'keras.activations', class_name:
 * 'function', config: 'gelu'}`), or a layer object (`{class_name: 'LeakyReLU', config:
 * {negative_slope: 0.3}}`, which Keras 3 calls as the activation). Those tfjs-layers implements
 * identically keep tfjs' own class; the others are written here from their Keras 3 definitions
 * (keras/src/activations/activations.py) and registered with tfjs' serialization under a name of
 * their own (`parity:leaky_relu(0.3)`), one per set of parameters, so `getActivation(name)`
 * builds them like any other.
 *
 * Keras 2 and Keras 3 differ on one name: hard_sigmoid is clip(0.2 x + 0.5, 0, 1) in Keras 2
 * (tfjs' one) and relu6(x + 3) / 6 in Keras 3.
 */

type J = Record<string, unknown>;
type Fn = (x: tf.Tensor) => tf.Tensor;

/** Keras names that tfjs-layers implements identically (its class name on the right). */
const TFJS: Record<string, string> = {
  elu: 'elu', linear: 'linear', relu: 'relu', relu6: 'relu6', selu: 'selu', sigmoid: 'sigmoid',
  softmax: 'softmax', log_softmax: 'logSoftmax', softplus: 'softplus', softsign: 'softsign',
  tanh: 'tanh', swish: 'swish', silu: 'swish', mish: 'mish', gelu: 'gelu',
};

const relu6 = (x: tf.Tensor) => tf.clipByValue(x, 0, 6);

/** Keras 3 activations tfjs lacks (or has with other defaults), by name, with their parameters. */
function kerasActivation(name: string, p: J, keras3: boolean): Fn | null {
  const num = (k: string, d: number) => (typeof p[k] === 'number' ? (p[k] as number) : d);
  switch (name) {
    case 'leaky_relu': {
      // Keras 3's default; tf.keras resolved the name to tf.nn.leaky_relu, whose alpha is 0.2 too.
      const slope = num('negative_slope', num('alpha', 0.2));
      return (x) => tf.where(tf.greaterEqual(x, 0), x, tf.mul(x, slope));
    }
    case 'relu': {
      // keras.activations.relu(x, negative_slope=0.0, max_value=None, threshold=0.0)
      const slope = num('negative_slope', 0);
      const threshold = num('threshold', 0);
      const max = typeof p.max_value === 'number' ? p.max_value : null;
      return (x) => {
        let y = tf.where(tf.greaterEqual(x, threshold), x, slope === 0 ? tf.zerosLike(x) : tf.mul(tf.sub(x, threshold), slope));
        if (max !== null) y = tf.minimum(y, max);
        return y;
      };
    }
    case 'elu': {
      const alpha = num('alpha', 1);
      return (x) => tf.where(tf.greater(x, 0), x, tf.mul(alpha, tf.sub(tf.exp(x), 1)));
    }
    case 'celu': {
      const alpha = num('alpha', 1);
      return (x) => tf.add(tf.relu(x), tf.minimum(0, tf.mul(alpha, tf.sub(tf.exp(tf.div(x, alpha)), 1))));
    }
    case 'gelu':
      // approximate=False (the default) is tfjs' erf form; approximate=True the tanh form.
      return p.approximate === true
        ? (x) => tf.mul(tf.mul(0.5, x), tf.add(1, tf.tanh(tf.mul(Math.sqrt(2 / Math.PI), tf.add(x, tf.mul(0.044715, tf.pow(x, 3)))))))
        : null;
    case 'hard_sigmoid':
      return keras3 ? (x) => tf.div(relu6(tf.add(x, 3)), 6) : (x) => tf.clipByValue(tf.add(tf.mul(x, 0.2), 0.5), 0, 1);
    case 'hard_silu':
    case 'hard_swish':
      return (x) => tf.mul(x, tf.div(relu6(tf.add(x, 3)), 6));
    case 'exponential':
      return (x) => tf.exp(x);
    case 'log_sigmoid':
      return (x) => tf.neg(tf.softplus(tf.neg(x)));
    case 'tanh_shrink':
      return (x) => tf.sub(x, tf.tanh(x));
    case 'soft_shrink': {
      const t = num('threshold', 0.5);
      return (x) => tf.where(tf.greater(x, t), tf.sub(x, t), tf.where(tf.less(x, -t), tf.add(x, t), tf.zerosLike(x)));
    }
    case 'hard_shrink': {
      const t = num('threshold', 0.5);
      return (x) => tf.where(tf.greater(tf.abs(x), t), x, tf.zerosLike(x));
    }
    case 'hard_tanh':
      return (x) => tf.clipByValue(x, -1, 1);
    case 'sparse_plus':
      // 0 for x <= -1, (x + 1)^2 / 4 for -1 < x < 1, x for x >= 1
      return (x) => tf.where(tf.lessEqual(x, -1), tf.zerosLike(x), tf.where(tf.less(x, 1), tf.div(tf.square(tf.add(x, 1)), 4), x));
    case 'squareplus': {
      const b = num('b', 4);
      return (x) => tf.div(tf.add(x, tf.sqrt(tf.add(tf.square(x), b))), 2);
    }
    case 'glu': {
      const axis = num('axis', -1);
      return (x) => {
        const [a, g] = tf.split(x, 2, axis);
        return tf.mul(a!, tf.sigmoid(g!));
      };
    }
    case 'softmax':
    case 'log_softmax': {
      const axis = p.axis;
      if (axis === undefined || axis === -1) return null;
      const axes = Array.isArray(axis) ? (axis as number[]) : [axis as number];
      if (!axes.every((a) => Number.isInteger(a))) return null;
      // Over several axes: as Keras, x - logsumexp(x, axes) (exp of it for softmax).
      return (x) => {
        const lse = tf.logSumExp(x, axes, true);
        const log = tf.sub(x, lse);
        return name === 'softmax' ? tf.exp(log) : log;
      };
    }
    default:
      return null;
  }
}

const registered = new Set<string>();

/** Registers `fn` under `className` with tfjs' serialization (once per name). */
function register(className: string, fn: Fn): void {
  if (registered.has(className)) return;
  registered.add(className);
  // tfjs' Activation base class is not exported: the registered class only needs apply() and getConfig().
  const Base = tf.serialization.Serializable as unknown as new () => object;
  const cls = class extends Base {
    static className = className;
    getClassName(): string {
      return className;
    }
    apply(x: tf.Tensor): tf.Tensor {
      return tf.tidy(() => fn(x));
    }
    getConfig(): J {
      return {};
    }
    static fromConfig(c: new () => object): object {
      return new c();
    }
  };
  tf.serialization.registerClass(cls as unknown as Parameters<typeof tf.serialization.registerClass>[0]);
}

/** Keras 3 activation layers used as an activation value: their config parameters as the function's. */
const LAYER_ACTIVATIONS: Record<string, (c: J) => { name: string; params: J } | null> = {
  LeakyReLU: (c) => ({ name: 'leaky_relu', params: { negative_slope: c.negative_slope ?? c.alpha ?? 0.3 } }),
  ReLU: (c) => ({ name: 'relu', params: { negative_slope: c.negative_slope ?? 0, threshold: c.threshold ?? 0, max_value: c.max_value ?? null } }),
  ELU: (c) => ({ name: 'elu', params: { alpha: c.alpha ?? 1 } }),
  Softmax: (c) => ({ name: 'softmax', params: { axis: c.axis ?? -1 } }),
  Activation: (c) => (typeof c.activation === 'string' ? { name: c.activation, params: {} } : null),
};

export interface ResolvedActivation {
  /** tfjs activation class name to put in the config, or null when it cannot be run. */
  name: string | null;
  /** How the activation is named in messages. */
  label: string;
}

/** Parameters as a stable suffix of the registered name. */
function paramKey(p: J): string {
  const keys = Object.keys(p).filter((k) => p[k] !== undefined && p[k] !== null).sort();
  return keys.length ? `(${keys.map((k) => `${k}=${JSON.stringify(p[k])}`).join(',')})` : '';
}

/**
 * The registered class name. tfjs camel-cases any config string holding an underscore
 * (convertPythonicToTs), so the name holds none.
 */
function className(name: string, p: J, keras3: boolean): string {
  return `parity:${name}${keras3 ? '' : '@keras2'}${paramKey(p)}`.replace(/_/g, '-');
}

/** A Keras activation value (string, serialized function or activation layer) -> the tfjs name to run it. */
export function resolveActivation(v: unknown, keras3: boolean): ResolvedActivation {
  let name: string;
  let params: J = {};
  const obj = v && typeof v === 'object' && !Array.isArray(v) ? (v as J) : null;
  const fromKeras = (m: unknown) => m === undefined || m === null || (typeof m === 'string' && /^(keras|tf_keras|tensorflow)(\.|$)/.test(m));
  if (typeof v === 'string') name = v;
  else if (obj && typeof obj.config === 'string' && (obj.class_name === 'function' || typeof obj.module === 'string') && fromKeras(obj.module)) name = obj.config;
  else if (obj && typeof obj.class_name === 'string' && obj.config && typeof obj.config === 'object' && fromKeras(obj.module) && LAYER_ACTIVATIONS[obj.class_name]) {
    const r = LAYER_ACTIVATIONS[obj.class_name]!(obj.config as J);
    if (!r) return { name: null, label: `activation ${obj.class_name}` };
    name = r.name;
    params = r.params;
  } else if (obj && typeof obj.class_name === 'string') return { name: null, label: `activation ${obj.class_name}` };
  else return { name: null, label: `activation ${JSON.stringify(v)}` };
  const label = `activation '${name}'${paramKey(params)}`;
  // Parameters at their defaults (as Keras 3 writes them) leave tfjs' own class applicable.
  const defaults = Object.entries(params).every(([k, x]) => x === null || (k === 'axis' ? x === -1 : k === 'alpha' ? x === 1 : x === 0));
  if (TFJS[name] && defaults && !(name === 'hard_sigmoid')) return { name: TFJS[name]!, label };
  if (name === 'hard_sigmoid' && !keras3) return { name: 'hardSigmoid', label };
  const fn = kerasActivation(name, params, keras3);
  if (!fn) return TFJS[name] ? { name: TFJS[name]!, label } : { name: null, label };
  const cls = className(name, params, keras3);
  register(cls, fn);
  return { name: cls, label };
}
