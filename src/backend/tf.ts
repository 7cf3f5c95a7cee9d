import { createRequire } from 'node:module';
import type * as TF from '@tensorflow/tfjs-core';

/**
 * tfjs-core, loaded with require(). Its npm package is CommonJS, and an ES `import` of a
 * CommonJS module makes Node scan its source for export names first (cjs-module-lexer): for
 * tfjs-core and the two backends, 2.1 MB, about 110 ms of every `parity` process's start on
 * this machine (0.21 s against 0.09 s to load the three). require() loads the same module
 * object (one instance, shared with tfjs-node and the backends, which require it too).
 *
 * `tf` is the module as a value; the namespace below gives the types used as `tf.Tensor` etc.
 */
const require = createRequire(import.meta.url);
export const tf = require('@tensorflow/tfjs-core') as typeof TF;

export declare namespace tf {
  export type Tensor<R extends TF.Rank = TF.Rank> = TF.Tensor<R>;
  export type Tensor1D = TF.Tensor1D;
  export type Tensor2D = TF.Tensor2D;
  export type Tensor3D = TF.Tensor3D;
  export type Tensor4D = TF.Tensor4D;
  export type Tensor5D = TF.Tensor5D;
  export type NamedTensorMap = TF.NamedTensorMap;
  export type DataType = TF.DataType;
  export type Rank = TF.Rank;
  export namespace io {
    export type IOHandler = TF.io.IOHandler;
    export type ModelJSON = TF.io.ModelJSON;
    export type WeightsManifestEntry = TF.io.WeightsManifestEntry;
  }
}

/** Loads a tfjs backend package (it registers itself with tfjs-core): require(), for the same reason. */
export function requireBackend(name: '@tensorflow/tfjs-backend-cpu' | '@tensorflow/tfjs-backend-wasm'): void {
  require(name);
}
