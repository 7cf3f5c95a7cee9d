import { existsSync, readFileSync, statSync } from 'node:fs';
import { extname, join } from 'node:path';
import { InputError, UnsupportedError } from '../core/errors.js';
import type { Runner } from '../core/runner.js';
import { loadGraph } from '../formats/index.js';
import type { FeedRequest } from '../graph/feeds.js';
import { feedPastParsingHint, feedRequestedTensors } from '../graph/feeds.js';
import type { Graph } from '../graph/ir.js';
import { resolveInputName } from '../inputs/spec.js';
import { Interpreter } from '../interpreter/interpreter.js';

export type ModelKind = 'graph' | 'keras' | 'tfjs-layers' | 'tfjs-graph' | 'onnx' | 'activations';

/** Which kind of model a path holds, by extension and, for model.json, by its `format` field. */
export function detectKind(path: string): ModelKind {
  // A TF1 checkpoint is named by its prefix (`model.ckpt`), which is no file itself.
  if (!existsSync(path) && !existsSync(path + '.index') && !existsSync(path + '.meta')) throw new InputError(`${path} does not exist`, { file: path });
  if (!existsSync(path)) return 'graph';
  const ext = extname(path).toLowerCase();
  if (ext === '.keras' || ext === '.h5' || ext === '.hdf5') return 'keras';
  if (ext === '.onnx') return 'onnx';
  if (ext === '.npz') return 'activations';
  let json = path;
  if (statSync(path).isDirectory() && existsSync(join(path, 'model.json'))) json = join(path, 'model.json');
  if (extname(json).toLowerCase() === '.json') {
    let format = '';
    try {
      const obj = JSON.parse(readFileSync(json, 'utf8')) as { format?: string; modelTopology?: { class_name?: string; model_config?: unknown; node?: unknown } };
      format = obj.format ?? '';
      if (!format && obj.modelTopology) format = obj.modelTopology.node ? 'graph-model' : 'layers-model';
    } catch {
      /* the graph reader reports the JSON error with its file name */
    }
    return format === 'layers-model' ? 'tfjs-layers' : 'tfjs-graph';
  }
  return 'graph';
}

export interface LoadedModel {
  runner: Runner;
  kind: ModelKind;
  /** The decoded graph, for graph kinds (reference or graph candidates). */
  graph?: Graph;
}

/** Loads any supported model as a Runner. Graph kinds run in the reference interpreter. */
export async function loadModel(
  path: string,
  opts: { signature?: string; outputs?: string[]; referenceInputs?: string[]; loopActivations?: 'all' | 'last'; feeds?: FeedRequest[] } = {},
): Promise<LoadedModel> {
  const kind = detectKind(path);
  switch (kind) {
    case 'keras': {
      const { loadKerasRunner } = await import('./keras/index.js');
      return { runner: await loadKerasRunner(path), kind };
    }
    case 'tfjs-layers': {
      const { loadTfjsLayersRunner } = await import('./tfjs-layers.js');
      return { runner: await loadTfjsLayersRunner(path), kind };
    }
    case 'onnx': {
      const { loadOnnxRunner } = await import('./onnx/index.js');
      return { runner: await loadOnnxRunner(path), kind };
    }
    case 'activations': {
      const { loadActivationsRunner } = await import('./activations.js');
      return { runner: await loadActivationsRunner(path, opts.referenceInputs), kind };
    }
    default: {
      const loaded = await loadGraph(path, { signature: opts.signature });
      // Tensors the user feeds by name (past a tf.Example parser, say) cut the graph there.
      const graph = opts.feeds?.length ? feedRequestedTensors(loaded, opts.feeds, (n) => resolveInputName(n, loaded.inputs) !== undefined) : loaded;
      let runner: Interpreter;
      try {
        runner = new Interpreter(graph, { ...(opts.outputs ? { outputs: opts.outputs } : {}), ...(opts.loopActivations ? { loopActivations: opts.loopActivations } : {}) });
      } catch (e) {
        const hint = e instanceof UnsupportedError ? feedPastParsingHint(graph, e.items.flatMap((i) => i.nodes)) : '';
        if (hint) throw new UnsupportedError(`${e instanceof Error ? e.message : String(e)}\n  ${hint}`, (e as UnsupportedError).items, { file: path, multiline: true });
        throw e;
      }
      return { runner, kind, graph };
    }
  }
}

/**
 * Loads what the runners of `kinds` (default: every runner) load on first use (tfjs-layers, the
 * HDF5 module, onnxruntime), so a process started ahead of its work (a suite's warm worker) pays
 * for it before the work comes. A runner whose module cannot load says so when it is used, not here.
 */
export async function preloadRunners(kinds?: readonly ModelKind[]): Promise<void> {
  const needs = (...k: ModelKind[]) => !kinds || k.some((x) => kinds.includes(x));
  await Promise.all([
    needs('keras', 'tfjs-layers') ? import('./tfl.js') : undefined,
    needs('keras') ? import('./keras/weights.js').then((m) => m.h5Module()) : undefined,
    needs('onnx') ? import('onnxruntime-node') : undefined,
  ].map((p) => p?.catch(() => undefined)));
}
