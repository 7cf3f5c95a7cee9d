import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { readBytes, readHead } from '../core/read.js';
import { basename, dirname, extname, join } from 'node:path';
import { InputError } from '../core/errors.js';
import type { TensorSpec } from '../core/tensor.js';
import { numElements } from '../core/tensor.js';
import type { Graph } from '../graph/ir.js';
import { loadCheckpointGraph, loadSavedModelGraph } from './checkpoint/index.js';
import { readGraphDef } from './graphdef.js';
import { readGraphDefText } from './pbtxt.js';
import { readTfjsGraphModel } from './tfjs-graph.js';

export type OriginalKind = 'pb' | 'pbtxt' | 'tfjs-graph' | 'saved-model' | 'checkpoint';

const KINDS = '.pb (binary GraphDef), .pbtxt (text GraphDef), model.json (TensorFlow.js graph model), a SavedModel folder, or a TF1 checkpoint (.meta/.index/.ckpt prefix or a folder with a `checkpoint` file)';

/** What kind of original a path is, by name and, when that is ambiguous, by contents. */
export function detectOriginal(path: string): OriginalKind {
  const prefixExists = ['.index', '.meta'].some((e) => existsSync(path + e));
  if (!existsSync(path) && !prefixExists) throw new InputError(`${path} does not exist`, { file: path });
  if (!existsSync(path) && prefixExists) return 'checkpoint';
  if (statSync(path).isDirectory()) {
    if (existsSync(join(path, 'saved_model.pb')) || existsSync(join(path, 'saved_model.pbtxt'))) return 'saved-model';
    if (existsSync(join(path, 'model.json'))) return 'tfjs-graph';
    if (existsSync(join(path, 'checkpoint')) || readdirSync(path).some((f) => f.endsWith('.index'))) return 'checkpoint';
    throw new InputError(`${path}: folder holds no model tf-parity can read (expected ${KINDS})`, { file: path });
  }
  if (/^saved_model\.pb(txt)?$/.test(basename(path))) return 'saved-model';
  const ext = extname(path).toLowerCase();
  if (ext === '.meta' || ext === '.index' || /\.data-\d+-of-\d+$/.test(path) || ext === '.ckpt') return 'checkpoint';
  if (ext === '.json') return 'tfjs-graph';
  if (ext === '.pbtxt' || ext === '.txt' || ext === '.prototxt') return 'pbtxt';
  if (ext === '.pb') return 'pb';
  // No telling extension: text format starts with a field name or a comment.
  const head = Buffer.from(readHead(path, 64)).toString('latin1');
  if (/^\s*(#|node\s*[{<:]|versions\s*[{<:]|library\s*[{<:])/.test(head)) return 'pbtxt';
  return 'pb';
}

/** Loads an original model as a Graph. */
export async function loadGraph(path: string, opts: { signature?: string; tags?: string[]; describe?: boolean } = {}): Promise<Graph> {
  const kind = detectOriginal(path);
  switch (kind) {
    case 'pb':
      return readGraphDef(readBytes(path), path);
    case 'pbtxt':
      return readGraphDefText(readFileSync(path, 'utf8'), path);
    case 'tfjs-graph':
      return readTfjsGraphModel(path);
    case 'saved-model':
      return loadSavedModelGraph(statSync(path).isDirectory() ? path : dirname(path), opts);
    case 'checkpoint':
      return loadCheckpointGraph(path, opts.describe ? { describe: true } : {});
  }
}

export interface GraphStats {
  nodes: number;
  ops: [string, number][];
  parameters: number;
  inputs: TensorSpec[];
  outputs: string[];
  functions: number;
}

/** Numbers for `parity inspect`: op histogram (most used first), parameter count, inputs/outputs. */
export function graphStats(g: Graph): GraphStats {
  const hist = new Map<string, number>();
  let params = 0;
  for (const n of g.nodes) {
    hist.set(n.op, (hist.get(n.op) ?? 0) + 1);
    const v = n.attrs.value;
    // Variables bound from a checkpoint are Const nodes too; they are counted from g.variables below.
    if (n.op === 'Const' && !g.variables?.has(n.name) && v?.type === 'tensor' && /^(float|bfloat)/.test(v.value.dtype)) params += numElements(v.value.shape);
  }
  for (const v of g.variables?.values() ?? []) if (/^(float|bfloat)/.test(v.dtype)) params += numElements(v.shape);
  return {
    nodes: g.nodes.length,
    ops: [...hist.entries()].sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0])),
    parameters: params,
    inputs: g.inputs,
    outputs: g.outputs,
    functions: g.functions.size,
  };
}
