import { mkdirSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { initBackend } from '../backend/index.js';
import { InputError, UnsupportedError } from '../core/errors.js';
import type { Result } from '../compare/result.js';
import { modelFileBytes } from '../formats/files.js';
import { loadGraph } from '../formats/index.js';
import { parseInputRef } from '../graph/ir.js';
import { writeZip } from '../formats/zip.js';
import { stripPort, suggest } from '../core/names.js';
import { kerasConfig, kerasMetadata } from './keras-config.js';
import { kerasWeightsH5 } from './keras-weights.js';
import type { LiftedModel, Unliftable } from './model.js';
import { observe } from './observe.js';
import { prove } from './prove.js';
import { pythonSource } from './python.js';
import { recognise } from './recognise.js';

/**
 * `lift`: a TensorFlow graph (any original tf-parity reads) becomes a Keras 3 model, with proof.
 * Stages, plain data between them:
 *   loadGraph (src/formats) -> observe (shapes, constant values) -> recognise (LiftedModel, or
 *   every Unliftable at once) -> write (model.keras, model.weights.h5, model.py) -> prove
 *   (compare --fail-on all over several seeds; report.html, report.json).
 */

export interface LiftOptions {
  /** Output folder. */
  out: string;
  shapes?: Record<string, number[]>;
  signature?: string;
  /** Tensors to lift up to (default: the graph's outputs). */
  outputs?: string[];
  /** Keras model name (default: from the original's file name). */
  name?: string;
  /** Seeded input draws in the proof (default 3). */
  seeds?: number;
  /** false: write the model only. */
  prove?: boolean;
  atol?: number;
  rtol?: number;
}

/**
 * proven: lifted, and compare found it equivalent. not-equivalent: lifted, compare found a
 * difference (a lift bug; the report shows where). unproven: lifted, but the Keras runner cannot
 * run what was written (keras.ops entries before the runner learns them), so no proof was made.
 * unliftable: nothing written. written: --no-proof.
 */
export type LiftStatus = 'proven' | 'not-equivalent' | 'unproven' | 'unliftable' | 'written';

export interface LiftResult {
  status: LiftStatus;
  /** 0 lifted and proven, 1 lifted but not equivalent, 2 cannot lift. */
  exitCode: 0 | 1 | 2;
  unliftable: Unliftable[];
  model?: LiftedModel;
  proof?: Result;
  /** Why the proof could not run (status 'unproven'). */
  unproven?: string;
  files: string[];
  counts: { nodes: number; layers: number; ops: number };
  /** Wall time of the lift (read, observe, recognise, write) and of the proof. */
  timings: { liftMs: number; proofMs: number };
  /** Shapes lift chose for inputs of unknown rank from the ops reading them (the proof uses the same). */
  inferredShapes?: Record<string, number[]>;
}

function modelName(original: string, given?: string): string {
  const raw = given ?? basename(original.replace(/[\\/]+$/, '')).replace(/\.(pb|pbtxt|json|meta|index|ckpt)$/i, '');
  const clean = raw.replace(/[^A-Za-z0-9_]/g, '_');
  return clean === '' || clean === 'model' ? 'lifted' : clean;
}

/** Writes model.keras, model.weights.h5, model.py and alignment.json into `out`; returns their paths in that order. */
export async function writeLifted(model: LiftedModel, out: string, original: string): Promise<string[]> {
  mkdirSync(out, { recursive: true });
  const enc = new TextEncoder();
  const weights = await kerasWeightsH5(model);
  const keras = writeZip([
    ['metadata.json', enc.encode(JSON.stringify(kerasMetadata()))],
    ['config.json', enc.encode(JSON.stringify(kerasConfig(model)))],
    ['model.weights.h5', weights],
  ], true);
  const files = [join(out, 'model.keras'), join(out, 'model.weights.h5'), join(out, 'model.py'), join(out, 'alignment.json')];
  writeFileSync(files[0]!, keras);
  writeFileSync(files[1]!, weights);
  writeFileSync(files[2]!, pythonSource(model, original));
  writeFileSync(files[3]!, JSON.stringify(liftAlignment(model), null, 2) + '\n');
  return files;
}

/**
 * What the lift claims: each layer's output equals one tensor of the original. Written as an
 * alignment map (`parity align` format) so that the proof compares exactly these pairs.
 */
export function liftAlignment(m: LiftedModel): { pairs: { reference: string; candidate: string }[] } {
  return { pairs: m.layers.filter((l) => l.stands).map((l) => ({ reference: l.stands!, candidate: l.name })) };
}

function checkOutputs(graph: { nodes: { name: string }[]; source: { path: string } }, outputs: string[]): void {
  const names = graph.nodes.map((n) => n.name);
  const known = new Set(names);
  for (const o of outputs) {
    const node = parseInputRef(stripPort(o)).node;
    if (!known.has(node)) throw new InputError(`${graph.source.path}: --outputs names '${o}', which is not a node of the graph${suggest(node, names)}`, { file: graph.source.path, node: o });
  }
}

export async function lift(original: string, opts: LiftOptions): Promise<LiftResult> {
  const t0 = performance.now();
  await initBackend('auto', { modelBytes: modelFileBytes(original) });
  const graph = await loadGraph(original, opts.signature ? { signature: opts.signature } : {});
  const outputs = (opts.outputs?.length ? opts.outputs : graph.outputs).map(stripPort);
  checkOutputs(graph, outputs);
  if (opts.outputs?.length) graph.outputs = outputs;
  const facts = await observe(graph, outputs, opts.shapes ?? {});
  const { model, unliftable } = recognise(graph, facts, { outputs, name: modelName(original, opts.name) });
  const counts = { nodes: graph.nodes.length, layers: model.layers.filter((l) => l.kind === 'layer').length, ops: model.layers.filter((l) => l.kind === 'op').length };
  const timings = { liftMs: 0, proofMs: 0 };
  const inferred = Object.keys(facts.inferred).length ? { inferredShapes: facts.inferred } : {};
  const shapes = { ...facts.inferred, ...(opts.shapes ?? {}) };
  if (unliftable.length) return { status: 'unliftable', exitCode: 2, unliftable, model, files: [], counts, timings: { ...timings, liftMs: performance.now() - t0 }, ...inferred };

  const files = await writeLifted(model, opts.out, original);
  timings.liftMs = performance.now() - t0;
  if (opts.prove === false) return { status: 'written', exitCode: 0, unliftable: [], model, files, counts, timings, ...inferred };
  const t1 = performance.now();

  let proof: Result;
  try {
    proof = await prove(original, files[0]!, opts.out, {
      map: files[3]!,
      seeds: opts.seeds ?? 3,
      ...(Object.keys(shapes).length ? { shapes } : {}),
      ...(opts.signature ? { signature: opts.signature } : {}),
      ...(opts.outputs?.length ? { outputs } : {}),
      ...(opts.atol !== undefined ? { atol: opts.atol } : {}),
      ...(opts.rtol !== undefined ? { rtol: opts.rtol } : {}),
    });
  } catch (e) {
    // The runner refuses what it cannot run (keras.ops entries until it learns them): lifted, not proven.
    if (e instanceof UnsupportedError) return { status: 'unproven', exitCode: 1, unliftable: [], model, unproven: e.message, files, counts, timings: { ...timings, proofMs: performance.now() - t1 }, ...inferred };
    throw e;
  }
  timings.proofMs = performance.now() - t1;
  files.push(join(opts.out, 'report.html'), join(opts.out, 'report.json'));
  const ok = proof.verdict === 'equivalent';
  return { status: ok ? 'proven' : 'not-equivalent', exitCode: ok ? 0 : 1, unliftable: [], model, proof, files, counts, timings, ...inferred };
}

export type { LiftedModel, LiftedLayer, Unliftable } from './model.js';
