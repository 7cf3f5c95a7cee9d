import type { Graph, GraphNode } from '../graph/ir.js';
import { parseInputRef } from '../graph/ir.js';
import type { DType } from '../core/dtype.js';
import { numElements } from '../core/tensor.js';
import type { InputHint } from './generate.js';
import { readersOf } from './generate.js';
import { stripPort } from '../core/names.js';

/**
 * The range of values a model's first operation expects of an input, when that operation maps
 * pixels: `x / 255`, `x * (1/255)`, `(x - 127.5) / 128`, `x - mean` with a mean in pixel units
 * (caffe-style 123.68, 116.78, 103.94). Uniform(-1, 1) inputs would become an almost constant
 * image there, so such an input is drawn in [0, 255) by default (int(0, 256) for an integer
 * input). What counts as a pixel map is one rule (`pixelMap`) for graphs (here) and for Keras
 * layers (runners/keras/input-hints.ts: Rescaling).
 */

export type ArithKind = 'mul' | 'div' | 'sub' | 'add';

/** Whether `x <kind> c` (c one constant, or one per channel) maps 8-bit pixel values. */
export function pixelMap(kind: ArithKind, consts: number[]): boolean {
  if (!consts.length || !consts.every((c) => Number.isFinite(c))) return false;
  switch (kind) {
    case 'mul': return consts.every((c) => c !== 0 && Math.abs(c) <= 1 / 100);
    case 'div': return consts.every((c) => Math.abs(c) >= 100 && Math.abs(c) <= 256);
    case 'sub': return consts.every((c) => c >= 50 && c <= 255);
    case 'add': return consts.every((c) => c <= -50 && c >= -255);
  }
}

/** The pixel-range hint for an input of `dtype`, `what` naming the operation that asks for it. */
export function pixelHint(dtype: DType, what: string): InputHint {
  const int = /^u?int/.test(dtype);
  return { dist: int ? { kind: 'int', low: 0, high: 256 } : { kind: 'uniform', low: 0, high: 255 }, reason: `pixel values: the model's first operation is ${what}` };
}

/** Ops whose output holds the input's values (moved or reshaped): looked through to the first arithmetic. */
const SHAPE_ONLY = new Set(['Identity', 'Snapshot', 'StopGradient', 'Cast', 'Reshape', 'ExpandDims', 'Squeeze', 'Transpose', 'PlaceholderWithDefault', 'EnsureShape', 'CheckNumerics', 'ResizeBilinear', 'ResizeNearestNeighbor']);
const VALUE_OPS = new Set(['Identity', 'ReadVariableOp', 'Snapshot', 'StopGradient']);
const ARITH: Record<string, ArithKind> = { Mul: 'mul', RealDiv: 'div', Div: 'div', DivNoNan: 'div', TrueDiv: 'div', Sub: 'sub', AddV2: 'add', Add: 'add', BiasAdd: 'add' };

/** Pixel-range hints for the graph's inputs whose first arithmetic maps pixels. Function bodies are not followed. */
export function inferPixelInputs(graph: Graph): Map<string, InputHint> {
  const byName = new Map(graph.nodes.map((n) => [n.name, n]));
  const users = readersOf(graph);
  const constValues = (ref: string | undefined): number[] | null => {
    if (ref === undefined) return null;
    let n = byName.get(parseInputRef(ref).node);
    for (let hops = 0; n && VALUE_OPS.has(n.op) && hops < 32; hops++) n = byName.get(parseInputRef(n.inputs.find((r) => !r.startsWith('^')) ?? '').node);
    const a = n?.op === 'Const' ? n.attrs.value : undefined;
    // Sized by the shape before the values are read: a weight's are never read (nor decoded) here.
    if (a?.type !== 'tensor' || numElements(a.value.shape) > 4096 || typeof a.value.data.length !== 'number' || a.value.data.length < 1) return null;
    return Array.from(a.value.data as ArrayLike<number | bigint>, Number);
  };
  const out = new Map<string, InputHint>();
  for (const spec of graph.inputs) {
    const start = parseInputRef(spec.name).node;
    // Breadth-first through shape-only ops; every first arithmetic reached must map pixels.
    let frontier = [start];
    const seen = new Set(frontier);
    const found: string[] = [];
    let other = false;
    for (let depth = 0; depth < 16 && frontier.length && !other; depth++) {
      const next: string[] = [];
      for (const name of frontier) {
        for (const { node, slot } of users.get(name) ?? []) {
          if (SHAPE_ONLY.has(node.op) && slot === 0) {
            if (!seen.has(node.name)) next.push(node.name), seen.add(node.name);
            continue;
          }
          const kind = ARITH[node.op];
          const dataIns = node.inputs.filter((r) => !r.startsWith('^'));
          // x - c / x + c / x * c / x / c with the input first (or, commutative, second).
          const c = kind && dataIns.length === 2 ? constValues(dataIns[1 - slot]) : null;
          const ok = kind && c && (slot === 0 || kind === 'mul' || kind === 'add') && pixelMap(kind, c);
          if (ok) found.push(`${node.op} by ${c!.length === 1 ? c![0] : `[${c!.slice(0, 3).join(', ')}${c!.length > 3 ? ', …' : ''}]`} (${node.name})`);
          else other = true;
        }
      }
      frontier = next;
    }
    if (found.length && !other) out.set(stripPort(spec.name), pixelHint(spec.dtype, found[0]!));
  }
  return out;
}
