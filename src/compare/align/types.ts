import { stripPort } from '../../core/names.js';
import type { Layout, OpRole } from '../../core/runner.js';
import type { SampleCache } from './similarity.js';

/** What alignment makes and reads: pairs, transforms, the facts of an activation. */

/** How a candidate tensor is brought into the reference's layout before comparing. */
export interface Transform {
  /** ref = transpose(cand, perm). */
  perm?: number[];
  /** Element counts match but shapes differ (e.g. a Flatten the other side does not have); compared flat. */
  reshape?: boolean;
}

export type Strategy = 'map' | 'name' | 'numeric' | 'shape' | 'output';

export interface AlignedPair {
  reference: string;
  candidate: string;
  strategy: Strategy;
  /** 0..1: 1 for map/exact names, the sampled similarity for numeric matches. */
  confidence: number;
  transform?: Transform;
}

export interface Alignment {
  version: 1;
  reference?: string;
  candidate?: string;
  pairs: AlignedPair[];
  unmatched: { reference: string[]; candidate: string[] };
  /** What alignment did not trust (names the values contradicted), in words: the Result's run.warnings. */
  warnings?: string[];
}

/** What alignment needs to know of one activation. */
export interface ActInfo {
  name: string;
  type: string;
  shape: number[];
  dtype: string;
  index: number;
  layout?: Layout;
  producedFrom: string[];
  /** Host copy of the values (float), used for numeric alignment and metrics. */
  data?: Float32Array;
  /** Which output of its node this is (indexes runSingle's result). */
  outputIndex?: number;
  /** Host copy of int32/bool values (shape tensors, indices), used to re-run single layers. */
  intData?: Int32Array | Uint8Array;
  /**
   * Instead of the values, when there were too many to hold: the sampled values alignment reads
   * (see sampleActivation), by permutation ('' for none).
   */
  samples?: Map<string, Float32Array>;
  /** What kind of layer computed it, when its runner says (Activation.role). */
  role?: OpRole;
}

/** Ops whose outputs are never layer outputs worth pairing. */
const SKIP_REF_OPS = new Set(['Const', 'Constant', 'Shape', 'ShapeN', 'Size', 'Rank', 'NoOp', 'VarHandleOp', 'ReadVariableOp', 'VariableV2', 'Placeholder', 'Range', 'Fill', 'Pack']);

export function isPairable(a: Pick<ActInfo, 'name' | 'type' | 'dtype'>, side: 'reference' | 'candidate'): boolean {
  if (a.dtype !== 'float32') return false;
  // Constants and plumbing are not layer outputs, on either side (graph candidates have them too).
  if (SKIP_REF_OPS.has(a.type)) return false;
  // FusedBatchNorm's extra outputs pass the statistics through; only y is the layer's output.
  if (/^FusedBatchNorm/.test(a.type) && /:\d+$/.test(a.name)) return false;
  if (side === 'candidate' && /InputLayer/.test(a.type)) return false;
  return true;
}

/** Ops that only move data around (TF and ONNX/Keras names). */
const MOVEMENT = /^(Reshape|Transpose|Flatten|Identity|Squeeze|Unsqueeze|ExpandDims|Permute|Cast|Snapshot|StopGradient|Dropout|InputLayer)$/;
export function isMovement(type: string): boolean {
  return MOVEMENT.test(type);
}

/** A name without its ':0' port (reference and candidate names are compared so). */
export const normaliseName = stripPort;

export function pairKey(reference: string, candidate: string): string {
  return normaliseName(reference) + '\u0000' + normaliseName(candidate);
}
