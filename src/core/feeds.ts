import type * as tf from '@tensorflow/tfjs-core';
import { InputError } from './errors.js';
import { stripPort } from './names.js';
import type { Feeds } from './runner.js';
import type { Shape } from './tensor.js';
import { shapeToString } from './tensor.js';

/**
 * The feed checks every runner makes, with one wording (one line naming the file and the input):
 *
 *   model.onnx: no feed for input 'x' (feeds given: a, b)
 *   model.onnx: input 'x' expects shape [?,3,9,7], the feed has shape [1,9,7,3]
 *
 * An input is fed under its name with or without the port (`x` and `x:0` are one input).
 */

/** The feed of input `name`, under its name with or without ':0'. */
export function feedOf(feeds: Feeds, name: string): tf.Tensor | undefined {
  return feeds.get(name) ?? feeds.get(`${name}:0`) ?? feeds.get(stripPort(name));
}

/** `file: no feed for input 'name' (feeds given: ...)`. */
export function noFeedError(file: string, name: string, feeds: Feeds, hint = ''): InputError {
  return new InputError(`${file}: no feed for input '${name}' (feeds given: ${[...feeds.keys()].join(', ') || 'none'})${hint ? `; ${hint}` : ''}`, { file, node: name });
}

/**
 * Whether `given` fits `want`: same rank, and every known dimension equal (a dimension below 0,
 * or null as Keras writes it, is free; an unknown rank fits anything).
 */
export function shapeFits(want: Shape | readonly (number | null)[] | undefined, given: readonly number[]): boolean {
  if (!want) return true;
  return want.length === given.length && want.every((d, i) => d === null || d < 0 || d === given[i]);
}

/** Throws `file: input 'name' expects shape [..], the feed has shape [..]` when the feed does not fit. */
export function checkFeedShape(file: string, name: string, want: Shape | readonly (number | null)[] | undefined, t: tf.Tensor, hint = ''): void {
  if (shapeFits(want, t.shape)) return;
  const wanted = want!.map((d) => (d === null ? -1 : d));
  throw new InputError(`${file}: input '${name}' expects shape ${shapeToString(wanted)}, the feed has shape ${shapeToString(t.shape)}${hint ? `; ${hint}` : ''}`, { file, node: name });
}

/**
 * Each input's feed, in the order of `inputs`, checked: every input fed (by name, with or
 * without ':0') and of a shape its spec allows. `hint` ends each message (what to do about it).
 */
export function checkFeeds(file: string, inputs: readonly { name: string; shape?: Shape | readonly (number | null)[] }[], feeds: Feeds, hint = ''): tf.Tensor[] {
  return inputs.map((spec) => {
    const t = feedOf(feeds, spec.name);
    if (!t) throw noFeedError(file, spec.name, feeds, hint);
    checkFeedShape(file, spec.name, spec.shape, t, hint);
    return t;
  });
}
