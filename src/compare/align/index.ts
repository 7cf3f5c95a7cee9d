/**
 * Alignment: pairs reference nodes with candidate layers (see strategies.ts for the order).
 *   types.ts        pairs, transforms, what alignment reads of an activation
 *   transforms.ts   layout transforms (NCHW/NHWC permutations, flattening)
 *   similarity.ts   the one similarity score, its bound, sampled values, the transform choice
 *   early-pairs.ts  map entries and exact names, decided while the models run
 *   strategies.ts   align(): map file, names, scopes, numeric, outputs
 *   wiring.ts       how each model's layers are wired (interior nodes, layer ends, fan-in/out)
 *   monotone.ts     the monotone numeric alignment and its scoring weights (SCORE)
 *   names-vs-values.ts  name pairs the values contradict (an exporter's renaming)
 *   branches.ts     parallel branches paired by the pairs they read
 *   map-file.ts     the alignment map file
 */
export * from './types.js';
export * from './transforms.js';
export * from './similarity.js';
export * from './early-pairs.js';
export * from './strategies.js';
export * from './wiring.js';
export * from './monotone.js';
export * from './branches.js';
export * from './names-vs-values.js';
export * from './map-file.js';
