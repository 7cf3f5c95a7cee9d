import { createRequire } from 'node:module';
import type * as TFL from '@tensorflow/tfjs-layers';

/**
 * tfjs-layers, loaded with require() for the reason given in backend/tf.ts: an ES `import` of
 * this 1.5 MB CommonJS bundle has Node scan it for export names first. Loaded only by the
 * runners of Keras and tfjs layers models.
 */
export const tfl = createRequire(import.meta.url)('@tensorflow/tfjs-layers') as typeof TFL;

export declare namespace tfl {
  export type LayersModel = TFL.LayersModel;
  export type SymbolicTensor = TFL.SymbolicTensor;
  export type LayerVariable = TFL.LayerVariable;
  export namespace layers {
    export type Layer = TFL.layers.Layer;
  }
}
