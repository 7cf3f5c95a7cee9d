import type { HostTensor } from '../core/tensor.js';
import { attrBool, attrString } from '../graph/attrs.js';
import type { Graph, GraphNode } from '../graph/ir.js';
import { parseInputRef } from '../graph/ir.js';
import { readersOf } from '../inputs/generate.js';

/**
 * An input whose rank the graph does not record (TF1 placeholders made without a shape): what
 * the ops that read it fix. MatMul takes a matrix ([batch, K], K from its constant weights);
 * convolutions, pooling and fused batch norm take 4-D tensors (channels from a constant filter,
 * on the axis their data_format says). Elementwise ops take any rank: then nothing is inferred
 * and the message says which --shape to give.
 */
export interface ReaderShape {
  /** Every dimension, batch 1, when the readers fix them all. */
  shape?: number[];
  /** The rank and dimensions known (-1 unknown), and the reader that fixed them. */
  partial?: { dims: number[]; reader: GraphNode };
  /** The ops that read the input (through Identity), for the message. */
  readers: GraphNode[];
}

const PASS = new Set(['Identity', 'Snapshot', 'StopGradient', 'PreventGradient', 'CheckNumerics']);
const CONV = new Set(['Conv2D', '_FusedConv2D', 'DepthwiseConv2dNative', 'FusedDepthwiseConv2dNative']);
const RANK4 = new Set(['MaxPool', 'AvgPool', 'FusedBatchNorm', 'FusedBatchNormV2', 'FusedBatchNormV3']);

function constShape(graph: Graph, ref: string | undefined): number[] | undefined {
  if (!ref) return undefined;
  const n = graph.nodes.find((x) => x.name === parseInputRef(ref).node);
  const v = n?.op === 'Const' ? n.attrs.value : undefined;
  return v?.type === 'tensor' ? (v.value as HostTensor).shape : undefined;
}

function dataInputs(n: GraphNode): string[] {
  return n.inputs.filter((r) => !r.startsWith('^'));
}

/** What one reader (reading the input at data slot `slot`) fixes: dims with -1 where unknown. */
function fixedBy(graph: Graph, n: GraphNode, slot: number): number[] | undefined {
  if ((n.op === 'MatMul' || n.op === '_FusedMatMul') && slot === 0) {
    if (attrBool(n, 'transpose_a', false)) return [-1, -1];
    const w = constShape(graph, dataInputs(n)[1]);
    return [1, w?.length === 2 ? w[attrBool(n, 'transpose_b', false) ? 1 : 0]! : -1];
  }
  if (CONV.has(n.op) && slot === 0) {
    const f = constShape(graph, dataInputs(n)[1]);
    const c = f?.length === 4 ? f[2]! : -1;
    return attrString(n, 'data_format', 'NHWC') === 'NCHW' ? [1, c, -1, -1] : [1, -1, -1, c];
  }
  if (RANK4.has(n.op) && slot === 0) return [1, -1, -1, -1];
  return undefined;
}

/** `needed`: the nodes the lifted outputs need (a training graph's gradient ops also read the input). */
export function shapeFromReaders(graph: Graph, input: string, needed?: Set<string>): ReaderShape {
  const users = readersOf(graph);
  const readers: GraphNode[] = [];
  let partial: ReaderShape['partial'];
  const visit = (name: string, depth: number) => {
    for (const { node, slot } of users.get(name) ?? []) {
      if (needed && !needed.has(node.name)) continue;
      if (PASS.has(node.op) && depth < 8) {
        visit(node.name, depth + 1);
        continue;
      }
      readers.push(node);
      const dims = fixedBy(graph, node, slot);
      if (dims && (!partial || dims.filter((d) => d >= 0).length > partial.dims.filter((d) => d >= 0).length)) partial = { dims, reader: node };
    }
  };
  visit(parseInputRef(input).node, 0);
  if (partial && partial.dims.every((d) => d >= 0)) return { shape: partial.dims, partial, readers };
  return { ...(partial ? { partial } : {}), readers };
}

/** The one-line message for an input of unknown rank that the readers do not fix. */
export function unknownRankMessage(file: string, name: string, r: ReaderShape): string {
  if (r.partial) {
    const dims = r.partial.dims.map((d, i) => (d >= 0 ? String(d) : i === 0 ? '1' : 'N'));
    return `${file}: input '${name}' has an unknown rank; ${r.partial.reader.op} '${r.partial.reader.name}' reads it as ${r.partial.dims.length}-D: give its shape with --shape ${name}:${dims.join('x')} (N: your sizes)`;
  }
  const ops = [...new Set(r.readers.map((n) => n.op))].slice(0, 4).join(', ');
  return `${file}: input '${name}' has an unknown rank and ${ops ? `the ops reading it (${ops}) take any rank` : 'no op reads it'}: give its shape with --shape, e.g. --shape ${name}:1 for one value per example or --shape ${name}:1xN for N features`;
}
