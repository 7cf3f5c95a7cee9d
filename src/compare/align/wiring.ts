import type { OpRole } from '../../core/runner.js';
import type { ActInfo } from './types.js';
import { normaliseName } from './types.js';

/**
 * How the activations of one model are wired, at the level of its layers, for alignment past a
 * divergence (where values match nothing and only structure can say which is which).
 *
 * A layer may be one recorded node or several: TF's Conv2D then BiasAdd (then Relu) in one
 * scope `conv2d_1/`, a Keras PReLU frozen into Relu, Minimum, Mul and AddV2 under `p_re_lu/`, a
 * batch norm into `FusedBatchNormV3/Mul` and `FusedBatchNormV3`; a port computes each as one
 * Conv, one PRelu, one BatchNormalization. A node read by a later node of its own scope is
 * *interior* to its layer (conv2d_1/Conv2D, p_re_lu/Relu, p_re_lu/Minimum); the layer's output is
 * its last node, its *end*. Fan-in and fan-out are counted between layer ends, through interior
 * nodes (the decomposed PReLU reads one value and is read once, like the port's PRelu), and a
 * layer end without a role of its own takes the role of the layer (p_re_lu/add: an activation).
 */
export interface Wiring {
  /** How many layer ends (or inputs) each activation reads, through interior nodes. */
  fanIn: Map<string, number>;
  /** How many layer ends read it, through interior nodes. */
  fanOut: Map<string, number>;
  /** Activations read by a later node of their own layer (scope). */
  interior: Set<string>;
  /** The role of an activation whose own op has none: its layer's (a decomposed activation's last Add), affine for multiplies and adds of one activation. */
  layerRole: Map<string, OpRole>;
  /** The recorded float activations each reads (normalised names), and those that read it. */
  inputs: Map<string, string[]>;
  readers: Map<string, string[]>;
}

/** The scope of a name: everything before its last '/' ('' when none). */
function scopeOf(name: string): string {
  const k = name.lastIndexOf('/');
  return k > 0 ? name.slice(0, k) : '';
}

/** The scope every name shares ('StatefulPartitionedCall/model'): no layer of its own. */
function commonScope(names: string[]): string {
  let common: string | undefined;
  for (const n of names) {
    const s = scopeOf(n);
    if (common === undefined) common = s;
    else {
      while (common && !(s === common || s.startsWith(common + '/'))) common = scopeOf(common);
    }
    if (!common) return '';
  }
  return common ?? '';
}

/** Elementwise multiplies and adds (a frozen batch norm's ops). */
const SCALE_SHIFT = /^(Mul|Add|AddV2|Sub|BiasAdd)$/;

/** Ops that copy a value: with no recorded input, a constant's copy (torch's Identity of an initializer). */
const CONSTANT_COPY = /^(Identity|Const|Constant)$/;

export function wiring(acts: ActInfo[]): Wiring {
  // Float values only: a shape a graph computes (Shape, Pack) is an initializer in another format.
  const floats = acts.filter((a) => a.dtype === 'float32');
  const all = new Set(floats.map((a) => normaliseName(a.name)));
  // Nor constants torch re-exports through an Identity (a BatchNormalization's running mean
  // shared by two): they read no activation and wire nothing together.
  const source = (a: ActInfo) => CONSTANT_COPY.test(a.type) && !a.producedFrom.some((x) => all.has(normaliseName(x)));
  const names = new Set(floats.filter((a) => !source(a)).map((a) => normaliseName(a.name)));
  const byName = new Map(acts.map((a) => [normaliseName(a.name), a]));
  const inputs = new Map<string, string[]>();
  const readers = new Map<string, string[]>();
  for (const a of acts) {
    const n = normaliseName(a.name);
    const ins = [...new Set(a.producedFrom.map(normaliseName).filter((x) => names.has(x)))];
    inputs.set(n, ins);
    for (const x of ins) {
      let r = readers.get(x);
      if (!r) readers.set(x, (r = []));
      r.push(n);
    }
  }
  const root = commonScope([...names]);
  const layerScope = (s: string) => (s.length > root.length ? s : '');
  const interior = new Set<string>();
  for (const n of names) {
    const s = layerScope(scopeOf(n));
    if (!s) continue;
    for (const b of readers.get(n) ?? []) {
      const sb = layerScope(scopeOf(b));
      // conv2d_1/Conv2D read by conv2d_1/BiasAdd; bn/FusedBatchNormV3/Mul read by bn/FusedBatchNormV3.
      // Not a layer's values before its activation (conv2d_1/BiasAdd read by conv2d_1/Relu): a
      // port computes the conv and its ReLU apart, and that is where its conv ends.
      const rb = byName.get(b);
      const activation = rb?.role === 'activation' || /^(Softmax|LogSoftmax)$/.test(rb?.type ?? '');
      if (sb && (sb === s || s === b) && !activation) {
        interior.add(n);
        break;
      }
    }
  }
  // An activation built from elementwise pieces with no layer scope of its own (a PReLU frozen at
  // the root scope: Maximum(x, 0), Minimum(x, 0), Mul(alpha, .), AddV2): its pieces are interior
  // to the node that joins them, and that node is an activation, like the port's one PReLU.
  const pieceEnds = new Set<string>();
  for (const n of names) {
    const group = interior.has(n) ? undefined : elementwisePieces(n, byName, inputs, readers);
    if (!group) continue;
    for (const g of group) interior.add(g);
    pieceEnds.add(n);
  }
  // Layer ends reached from each activation through interior nodes, upward and downward.
  const reach = (start: string, next: Map<string, string[]>): Set<string> => {
    const out = new Set<string>();
    const seen = new Set<string>();
    const stack = [...(next.get(start) ?? [])];
    while (stack.length) {
      const x = stack.pop()!;
      if (seen.has(x)) continue;
      seen.add(x);
      if (interior.has(x)) stack.push(...(next.get(x) ?? []));
      else out.add(x);
    }
    return out;
  };
  const fanIn = new Map<string, number>();
  const fanOut = new Map<string, number>();
  const layerRole = new Map<string, OpRole>();
  for (const a of acts) {
    const n = normaliseName(a.name);
    fanIn.set(a.name, reach(n, inputs).size);
    fanOut.set(a.name, reach(n, readers).size);
    if (!a.role && !interior.has(n)) {
      // The nearest interior node of its layer with a role, walking back (p_re_lu/add <- p_re_lu/Relu).
      const stack = [...(inputs.get(n) ?? [])];
      const seen = new Set<string>();
      let scaleShift = SCALE_SHIFT.test(a.type);
      while (stack.length) {
        const x = stack.shift()!;
        if (seen.has(x) || !interior.has(x)) continue;
        seen.add(x);
        const role = byName.get(x)?.role;
        if (role) {
          layerRole.set(a.name, role);
          break;
        }
        if (!SCALE_SHIFT.test(byName.get(x)?.type ?? '')) scaleShift = false;
        stack.push(...(inputs.get(x) ?? []));
      }
      // A layer of multiplies and adds by constants that reads one activation (a batch norm frozen
      // into Mul and Add) is affine; an Add of two activations (a residual) is not.
      if (!layerRole.has(a.name) && pieceEnds.has(n)) layerRole.set(a.name, 'activation');
      if (!layerRole.has(a.name) && scaleShift && fanIn.get(a.name) === 1) layerRole.set(a.name, 'affine');
    } else if (!a.role && SCALE_SHIFT.test(a.type) && fanIn.get(a.name) === 1) layerRole.set(a.name, 'affine');
  }
  return { fanIn, fanOut, interior, layerRole, inputs, readers };
}

/** Elementwise ops of one activation (and constants) an activation is built from. */
const ELEMENTWISE = /^(Maximum|Minimum|Relu|Relu6|Neg|Abs|Mul|Sub|Add|AddV2|RealDiv|Div|Sigmoid|Tanh|Square|Sqrt|Rsqrt|Exp|Erf|Softplus|Sign)$/;
/** Of those, the ones that bend: without one, the pieces are a scale and shift, not an activation. */
const NONLINEAR = /^(Maximum|Minimum|Relu|Relu6|Abs|Sigmoid|Tanh|Exp|Erf|Softplus|Sign)$/;
/** Ops that join the two branches of such an activation. */
const JOIN = /^(Add|AddV2|Sub|Mul)$/;

/**
 * The pieces of an activation that `end` joins: `end` (an Add, Sub or Mul) reads two values, and
 * each is reached from one same value x through elementwise ops of one activation, each read by
 * the next one only (Maximum(x, 0) and Mul(alpha, Minimum(x, 0)); x and Sigmoid(x)). Undefined
 * when it is not that, or when no piece bends (a residual Add of a scaled x is two layers).
 */
function elementwisePieces(end: string, byName: Map<string, ActInfo>, inputs: Map<string, string[]>, readers: Map<string, string[]>): string[] | undefined {
  const ins = inputs.get(end) ?? [];
  if (ins.length !== 2 || !JOIN.test(byName.get(end)?.type ?? '')) return undefined;
  const group: string[] = [];
  const tops = ins.map((start) => {
    let cur = start;
    let next = end;
    for (;;) {
      const a = byName.get(cur);
      const up = inputs.get(cur) ?? [];
      const rs = readers.get(cur) ?? [];
      if (!a || !ELEMENTWISE.test(a.type) || up.length !== 1 || rs.length !== 1 || rs[0] !== next) return cur;
      group.push(cur);
      next = cur;
      cur = up[0]!;
    }
  });
  if (tops[0] !== tops[1] || group.includes(tops[0]!) || !group.some((g) => NONLINEAR.test(byName.get(g)?.type ?? ''))) return undefined;
  return group;
}
