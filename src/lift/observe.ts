import { tfToHost, hostToTf } from '../backend/convert.js';
import { InputError } from '../core/errors.js';
import type { HostTensor, TensorSpec } from '../core/tensor.js';
import type { Graph } from '../graph/ir.js';
import { parseInputRef } from '../graph/ir.js';
import { generateFeeds } from '../inputs/generate.js';
import { normalizeInputName } from '../inputs/spec.js';
import { Interpreter, neededNodes } from '../interpreter/interpreter.js';
import { shapeFromReaders, unknownRankMessage } from './input-rank.js';
import type * as tf from '@tensorflow/tfjs-core';

/**
 * Facts the recogniser needs that the graph alone does not state: the shape of every tensor and
 * the value of every tensor that does not depend on an input (weights, folded constants,
 * variables read from a checkpoint, float16/quantised weights after their dequantising ops).
 * Found by running the original once in the interpreter (TF semantics) on seeded inputs.
 */
export interface GraphFacts {
  /** The inputs with concrete shapes. */
  inputs: TensorSpec[];
  shapes: Map<string, number[]>;
  /** Values of the tensors that depend on no input. */
  constants: Map<string, HostTensor>;
  /** Nodes whose outputs depend on an input. */
  dynamic: Set<string>;
  /** Shapes of inputs of unknown rank that the ops reading them fix (input-rank.ts), by input name. */
  inferred: Record<string, number[]>;
}

/**
 * Inputs with every dimension known: --shape overrides, an unknown batch dimension becomes 1, an
 * unknown rank is taken from the ops reading the input when they fix every dimension (recorded in
 * `inferred`), else a one-line error saying which --shape to give.
 */
export function concreteInputs(graph: Graph, shapes: Record<string, number[]>, needed?: Set<string>, inferred: Record<string, number[]> = {}): TensorSpec[] {
  const used = needed ? graph.inputs.filter((s) => needed.has(parseInputRef(normalizeInputName(s.name)).node)) : graph.inputs;
  return used.map((s) => {
    const name = normalizeInputName(s.name);
    const given = shapes[name] ?? shapes[s.name];
    if (given) return { ...s, shape: given };
    if (!s.shape) {
      const r = shapeFromReaders(graph, name, needed);
      if (!r.shape) throw new InputError(unknownRankMessage(graph.source.path, name, r), { file: graph.source.path, node: name });
      inferred[name] = r.shape;
      return { ...s, shape: r.shape };
    }
    const shape = s.shape.map((d, i) => (d >= 0 ? d : i === 0 ? 1 : -1));
    if (shape.includes(-1)) throw new InputError(`${graph.source.path}: input '${name}' has unknown dimensions (${s.shape.map((d) => (d < 0 ? '?' : d)).join('x')}); give its shape with --shape ${name}:1x...`, { file: graph.source.path, node: name });
    return { ...s, shape };
  });
}

/** Nodes that (transitively) read an input. */
function dynamicNodes(graph: Graph, needed: Set<string>): Set<string> {
  const inputs = new Set(graph.inputs.map((s) => parseInputRef(normalizeInputName(s.name)).node));
  const byName = new Map(graph.nodes.map((n) => [n.name, n]));
  const memo = new Map<string, boolean>();
  const visit = (name: string): boolean => {
    const known = memo.get(name);
    if (known !== undefined) return known;
    memo.set(name, false);
    const n = byName.get(name);
    const dyn = inputs.has(name) || n?.op === 'Placeholder' || n?.op === 'PlaceholderWithDefault' || (n?.inputs ?? []).some((r) => !r.startsWith('^') && visit(parseInputRef(r).node));
    memo.set(name, dyn);
    return dyn;
  };
  const out = new Set<string>();
  for (const name of needed) if (visit(name)) out.add(name);
  return out;
}

export async function observe(graph: Graph, outputs: string[], shapes: Record<string, number[]>, seed = 0): Promise<GraphFacts> {
  const needed = neededNodes(graph, outputs);
  const inferred: Record<string, number[]> = {};
  const inputs = concreteInputs(graph, shapes, needed, inferred);
  const dynamic = dynamicNodes(graph, needed);
  const interp = new Interpreter(graph, { outputs });
  const feeds = new Map<string, tf.Tensor>();
  for (const [k, v] of generateFeeds(inputs, { seed })) feeds.set(k, hostToTf(v, k));
  const facts: GraphFacts = { inputs, shapes: new Map(), constants: new Map(), dynamic, inferred };
  try {
    for await (const a of interp.run(feeds, { record: 'all' })) {
      facts.shapes.set(a.name, a.tensor.shape.slice());
      if (!dynamic.has(parseInputRef(a.name).node)) facts.constants.set(a.name, tfToHost(a.tensor));
      a.tensor.dispose();
    }
  } finally {
    for (const t of feeds.values()) t.dispose();
    interp.dispose();
  }
  for (const s of inputs) facts.shapes.set(normalizeInputName(s.name), s.shape!);
  return facts;
}
