import type * as tfl from '@tensorflow/tfjs-layers';
import type { InputHint } from '../../inputs/generate.js';
import { pixelHint, pixelMap } from '../../inputs/preamble.js';
import type { TensorSpec } from '../../core/tensor.js';
import { RANDOM_AUGMENTATIONS } from './image-layers.js';

/**
 * What a Keras model's inputs should be drawn from by default, decided by the layers that first
 * use them: an input feeding an Embedding holds token ids in [0, input_dim) (floats in [-1, 1)
 * would all truncate to token 0: all padding, fully masked with mask_zero); one whose first
 * computing layer is Rescaling by at most 1/100 (Rescaling(1/255), Rescaling(1/127.5, -1)), or
 * a Normalization whose mean and spread are pixel-sized (adapted on images: mean in [50, 255],
 * std in [10, 256] on every channel), holds pixel values in [0, 255). Layers that only move values (augmentation at inference,
 * Resizing, Reshape, Dropout, a nested model's input) are looked through. An input used by
 * several layers gets a hint only when every first use agrees.
 */

type Layer = tfl.layers.Layer;
interface NodeLike {
  outboundLayer: Layer;
  inputTensors: { id: number }[];
}

const PASS = new Set<string>([
  'InputLayer', ...RANDOM_AUGMENTATIONS, 'Resizing', 'Reshape', 'Permute', 'Dropout', 'SpatialDropout1D', 'SpatialDropout2D', 'SpatialDropout3D',
  'GaussianNoise', 'GaussianDropout', 'AlphaDropout', 'ZeroPadding2D', 'Cropping2D', 'CenterCrop', 'RandomCrop',
]);
const MODELS = new Set(['Sequential', 'Model', 'Functional']);

function outbound(layer: Layer): NodeLike[] {
  return ((layer as unknown as { outboundNodes?: NodeLike[] }).outboundNodes ?? []).filter((n) => n.outboundLayer);
}

/** A short rendering of per-channel values: their range, rounded. */
function describeStat(xs: number[]): string {
  const lo = Math.min(...xs);
  const hi = Math.max(...xs);
  return lo.toFixed(0) === hi.toFixed(0) ? lo.toFixed(0) : `${lo.toFixed(0)}..${hi.toFixed(0)}`;
}

/** A model's input layers (a Sequential keeps them on its inner model; its symbolic inputs lead there). */
function inputLayers(model: tfl.LayersModel): Layer[] {
  return (model.inputs ?? []).map((t) => t.sourceLayer as Layer);
}

/** The hint the first computing layers reached from `layer`'s output ask for, or null (none, or disagreeing). */
function firstUse(layer: Layer, depth: number): { hint: InputHint | null; other: boolean } {
  const hints: InputHint[] = [];
  let other = false;
  for (const node of outbound(layer)) {
    const l = node.outboundLayer;
    const cls = l.getClassName();
    if (depth > 32) return { hint: null, other: true };
    let r: { hint: InputHint | null; other: boolean };
    if (MODELS.has(cls)) {
      // Into a nested model: its input layers stand for the outer tensor.
      const inner = inputLayers(l as tfl.LayersModel);
      const subs = inner.map((x) => firstUse(x, depth + 1));
      r = subs.length === 1 ? subs[0]! : { hint: null, other: true };
      // A nested model that only moves values (augmentation): on to what uses its output.
      if (!r.hint && !r.other) r = firstUse(l, depth + 1);
    } else if (PASS.has(cls)) r = firstUse(l, depth + 1);
    else if (cls === 'Embedding') {
      const dim = (l as unknown as { inputDim?: number }).inputDim;
      r = typeof dim === 'number' && dim > 0 ? { hint: { dist: { kind: 'int', low: 0, high: dim }, reason: `token ids: the input feeds Embedding '${l.name}' (input_dim ${dim})` }, other: false } : { hint: null, other: true };
    } else if (cls === 'Rescaling') {
      const { scale, offset } = l as unknown as { scale: number; offset: number };
      r = pixelMap('mul', [scale]) ? { hint: pixelHint('float32', `Rescaling(scale=${+scale.toPrecision(6)}, offset=${offset}) ('${l.name}')`), other: false } : { hint: null, other: true };
    } else if (cls === 'Normalization') {
      // (x - mean) / std with a pixel-sized mean and spread (adapted on images in [0, 255]).
      const stats = (l as unknown as { normalizationStats?: () => { mean: number[]; std: number[] } | null }).normalizationStats?.();
      const pixels = !!stats && pixelMap('sub', stats.mean) && stats.std.every((s) => s >= 10 && s <= 256);
      r = pixels ? { hint: pixelHint('float32', `Normalization(mean ~ ${describeStat(stats.mean)}, std ~ ${describeStat(stats.std)}) ('${l.name}')`), other: false } : { hint: null, other: true };
    } else r = { hint: null, other: true };
    if (r.other) other = true;
    if (r.hint) hints.push(r.hint);
  }
  const agree = hints.length > 0 && hints.every((h) => JSON.stringify(h.dist) === JSON.stringify(hints[0]!.dist));
  return { hint: agree && !other ? hints[0]! : null, other: other || (hints.length > 0 && !agree) };
}

/** Hints by input name (the InputLayer names a LayersRunner feeds). */
export function kerasInputHints(model: tfl.LayersModel, specs: TensorSpec[]): Map<string, InputHint> {
  const out = new Map<string, InputHint>();
  const layers = inputLayers(model);
  layers.forEach((l, i) => {
    const spec = specs[i];
    if (!spec) return;
    const { hint } = firstUse(l, 0);
    if (!hint) return;
    // An integer input keeps integer draws; a pixel range on one becomes int(0, 256).
    out.set(spec.name, hint.dist.kind === 'uniform' && /^u?int/.test(spec.dtype) ? pixelHint(spec.dtype, hint.reason.replace(/^pixel values: the model's first operation is /, '')) : hint);
  });
  return out;
}
