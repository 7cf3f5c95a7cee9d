import type * as tf from '@tensorflow/tfjs-core';
import { hostToTf } from '../backend/convert.js';
import { FormatError, InputError } from '../core/errors.js';
import { checkFeedShape, checkFeeds } from '../core/feeds.js';
import { stripPort as norm } from '../core/names.js';
import type { Activation, Feeds, RunOptions, Runner } from '../core/runner.js';
import { shapeToString, type HostTensor, type TensorSpec } from '../core/tensor.js';
import { readNpzFile } from '../inputs/npz.js';

/**
 * Activations computed elsewhere (real Keras in Python, PyTorch, TFLite): an .npz of named layer
 * outputs, in execution order (np.savez keeps the order of its keyword arguments).
 *
 * Which entries are inputs: there is no side file. An entry is a recorded input when its name
 * is one of the original model's input names (`referenceInputs`, with or without ':0'), or when
 * run() is given a feed of that name. The Python snippet below saves the feeds under exactly
 * those names. run() checks every recorded input against this comparison's feed (same shape,
 * values within 1e-6 relative) and refuses to compare activations computed on other inputs;
 * the inputs themselves are not yielded. Entries are yielded as type 'recorded', with no
 * layout and no producedFrom: the file says nothing about either.
 */

const TOLERANCE = 1e-6;

/** What to do when a recorded input is not this comparison's feed. */
const REGENERATE = "the activations were computed on other inputs: regenerate them from 'parity export-inputs' with the same --seed and input options";

export class ActivationsRunner implements Runner {
  readonly kind = 'activations';

  constructor(
    readonly source: string,
    private readonly arrays: Map<string, HostTensor>,
    private readonly inputNames: string[],
    readonly warnings: readonly string[] = [],
  ) {}

  inputs(): TensorSpec[] {
    return this.inputNames.map((n) => {
      const a = this.arrays.get(n)!;
      return { name: n, dtype: a.dtype, shape: a.shape.slice() };
    });
  }

  outputs(): string[] {
    const names = [...this.arrays.keys()].filter((k) => !this.inputNames.includes(k));
    return names.length ? [names[names.length - 1]!] : [];
  }

  private recordedKey(feedName: string): string | undefined {
    if (this.arrays.has(feedName)) return feedName;
    const n = norm(feedName);
    return this.arrays.has(n) ? n : undefined;
  }

  /** A recorded input against this comparison's feed: the same shape and values. */
  private checkInput(key: string, given: tf.Tensor): void {
    const rec = this.arrays.get(key)!;
    checkFeedShape(this.source, key, rec.shape, given, REGENERATE);
    const differs = (why: string): InputError =>
      new InputError(`${this.source}: the recorded input '${key}' differs from this comparison's feed (${why}); ${REGENERATE}`, { file: this.source, node: key });
    if (rec.dtype === 'string' || given.dtype === 'string') {
      const a = (given.dataSync() as unknown as (Uint8Array | string)[]).map((v) => (typeof v === 'string' ? v : new TextDecoder().decode(v)));
      const b = (rec.data as Uint8Array[]).map((v) => new TextDecoder().decode(v));
      const i = a.findIndex((v, k) => v !== b[k]);
      if (i >= 0 || a.length !== b.length) throw differs(`element ${Math.max(i, 0)}`);
      return;
    }
    const a = given.dataSync() as ArrayLike<number>;
    const b = rec.data as ArrayLike<number | bigint>;
    if (a.length !== b.length) throw differs(`${b.length} recorded values, ${a.length} fed`);
    for (let i = 0; i < a.length; i++) {
      const x = a[i]!;
      const y = Number(b[i]!);
      if (Number.isNaN(x) && Number.isNaN(y)) continue;
      if (!(Math.abs(x - y) <= TOLERANCE * Math.max(1, Math.abs(x)))) throw differs(`element ${i}: recorded ${y}, fed ${x}`);
    }
  }

  async *run(feeds: Feeds, opts: RunOptions = {}): AsyncIterable<Activation> {
    const inputs = new Set(this.inputNames);
    // Every recorded input fed; its shape and values are checkInput's.
    checkFeeds(this.source, this.inputNames.map((name) => ({ name })), feeds);
    for (const [name, given] of feeds) {
      const key = this.recordedKey(name);
      if (key === undefined) continue;
      this.checkInput(key, given);
      inputs.add(key);
    }
    const record = opts.record && opts.record !== 'all' ? new Set(opts.record.flatMap((r) => [r, norm(r)])) : null;
    let index = 0;
    for (const [name, h] of this.arrays) {
      if (inputs.has(name)) continue;
      if (record && !record.has(name)) continue;
      yield { name, type: 'recorded', tensor: hostToTf(h, `${this.source}: array '${name}'`), producedFrom: [], index: index++ };
    }
  }

  dispose(): void {
    this.arrays.clear();
  }
}

/** `referenceInputs`: the original's input names; npz entries with those names are the recorded inputs. */
export async function loadActivationsRunner(npzPath: string, referenceInputs: string[] = []): Promise<ActivationsRunner> {
  const arrays = readNpzFile(npzPath);
  if (arrays.size === 0) throw new FormatError(`${npzPath}: the .npz holds no arrays (expected one per layer output)`, { file: npzPath });
  const names = [...new Set(referenceInputs.map((n) => (arrays.has(n) ? n : norm(n))).filter((n) => arrays.has(n)))];
  if (names.length === arrays.size) {
    throw new FormatError(`${npzPath}: every array is a model input (${names.join(', ')}); no layer outputs were saved`, { file: npzPath });
  }
  // Without the inputs they were computed on, nothing can show that they are this comparison's:
  // activations of other inputs would only look like a conversion that fails everywhere.
  const warnings =
    referenceInputs.length && !names.length
      ? [
          `the file records none of the original's inputs (${referenceInputs.map(norm).join(', ')}), so tf-parity cannot check that these activations were computed on this comparison's inputs; ` +
            `if every pair fails, they likely were not (save the feeds from 'parity export-inputs' in the file, as its --script does)`,
        ]
      : [];
  return new ActivationsRunner(npzPath, arrays, names, warnings);
}

function py(s: string): string {
  // A JSON string literal is a valid Python str literal (same escapes, \uXXXX included).
  return JSON.stringify(s);
}

/**
 * A short Python script (Keras 3; Keras 2.x too) that runs a Keras model on the feeds
 * tf-parity generated and saves every layer's output as .npz, for
 * `parity compare ORIGINAL <outNpz>`. The feeds are saved alongside, under their own names, so
 * tf-parity can check the activations were computed on this comparison's inputs.
 */
export function pythonSnippet(o: { inputsNpz: string; modelPath: string; outNpz: string }): string {
  return `# Generated by tf-parity (parity export-inputs): runs a Keras model on tf-parity's seeded
# inputs and saves every layer's output, in layer order, for 'parity compare ORIGINAL ${o.outNpz.replace(/[\r\n]/g, ' ')}'.
import numpy as np
import keras

INPUTS = ${py(o.inputsNpz)}
MODEL = ${py(o.modelPath)}
OUT = ${py(o.outNpz)}

feeds = np.load(INPUTS)
model = keras.models.load_model(MODEL, compile=False)
keys = list(feeds.files)
model_inputs = list(model.inputs)
if len(keys) != len(model_inputs):
    raise SystemExit(f"{INPUTS} holds {len(keys)} input(s) {keys}; the model takes {len(model_inputs)}")
# By name when every model input has a feed of its name, else by position.
names = [getattr(t, "name", "").split(":")[0] for t in model_inputs]
order = names if sorted(names) == sorted(keys) else keys
args = [feeds[k] for k in order]

layer_names, outputs = [], []
for layer in model.layers:
    if isinstance(layer, keras.layers.InputLayer):
        continue
    try:
        out = layer.output
    except (AttributeError, ValueError) as e:  # a layer called more than once has no single output
        print(f"skipped layer {layer.name}: {e}")
        continue
    layer_names.append(layer.name)
    outputs.append(out)

probe = keras.Model(inputs=model_inputs, outputs=outputs)
values = probe.predict(args if len(args) > 1 else args[0], verbose=0)
if len(outputs) == 1 and (not isinstance(values, (list, tuple)) or isinstance(outputs[0], (list, tuple))):
    values = [values]

arrays = {k: feeds[k] for k in order}
for name, out, value in zip(layer_names, outputs, values):
    if name in arrays:
        continue
    if isinstance(out, (list, tuple)):  # a layer with several outputs: name, name:1, name:2, ...
        for i, v in enumerate(value):
            arrays[name if i == 0 else f"{name}:{i}"] = np.asarray(v)
    else:
        arrays[name] = np.asarray(value)
np.savez(OUT, **arrays)
print(f"saved {len(arrays) - len(order)} layer output(s) and {len(order)} input(s) to {OUT}")
`;
}
