import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { InputError } from '../core/errors.js';
import type { Activation, Feeds, Layout, RunOptions, Runner } from '../core/runner.js';
import type { TensorSpec } from '../core/tensor.js';

/**
 * A Runner over a tfjs-layers model (Keras .keras/.h5 and TensorFlow.js layers models). One
 * auxiliary model outputs every layer's output; it is predicted once and the outputs are yielded
 * in layer order. Names: the layer name; `name:i` for output i of a multi-output layer;
 * `name@call2` for the second call of a shared layer. Nested models are one activation each.
 */
interface Probe {
  name: string;
  type: string;
  tensor: tfl.SymbolicTensor;
  producedFrom: string[];
  layout?: Layout;
}

function layoutOf(layer: tfl.layers.Layer, rank: number): Layout | undefined {
  if (rank !== 4 && rank !== 5) return undefined;
  const cfg = layer.getConfig() as { dataFormat?: string };
  const first = cfg.dataFormat === 'channelsFirst';
  return rank === 4 ? (first ? 'NCHW' : 'NHWC') : first ? 'NCDHW' : 'NDHWC';
}

export class LayersRunner implements Runner {
  private readonly probes: Probe[] = [];
  private aux: tfl.LayersModel | undefined;

  constructor(readonly kind: string, readonly source: string, readonly model: tfl.LayersModel) {
    for (const layer of model.layers) {
      if (layer.getClassName() === 'InputLayer') continue;
      const nodes = (layer as unknown as { inboundNodes: { outputTensors: tfl.SymbolicTensor[]; inboundLayers: tfl.layers.Layer[] }[] }).inboundNodes;
      nodes.forEach((node, call) => {
        // Only the calls that belong to this model's graph have their outputs reachable.
        const outs = node.outputTensors;
        outs.forEach((t, i) => {
          const base = call === 0 ? layer.name : `${layer.name}@call${call + 1}`;
          this.probes.push({
            name: outs.length > 1 ? `${base}:${i}` : base,
            type: layer.getClassName(),
            tensor: t,
            producedFrom: node.inboundLayers.map((l) => l.name),
            layout: layoutOf(layer, t.shape.length),
          });
        });
      });
    }
  }

  /** Input names as the layers see them (the InputLayer's name; tfjs may suffix model.inputNames). */
  private inputName(i: number): string {
    const t = this.model.inputs[i]!;
    return t.sourceLayer?.name ?? this.model.inputNames[i] ?? t.name;
  }

  inputs(): TensorSpec[] {
    return this.model.inputs.map((t, i) => ({
      name: this.inputName(i),
      dtype: (t.dtype === 'int32' ? 'int32' : t.dtype === 'bool' ? 'bool' : 'float32'),
      shape: t.shape.map((d) => (d === null ? -1 : d)),
    }));
  }

  outputs(): string[] {
    return this.model.outputs.map((t) => {
      const p = this.probes.find((q) => q.tensor === t);
      return p ? p.name : t.name;
    });
  }

  private auxModel(): tfl.LayersModel {
    if (!this.aux) {
      const reachable: Probe[] = [];
      for (const p of this.probes) {
        try {
          tfl.model({ inputs: this.model.inputs, outputs: p.tensor });
          reachable.push(p);
        } catch {
          // A shared layer's call from another graph: not computable from these inputs.
        }
      }
      this.probes.splice(0, this.probes.length, ...reachable);
      this.aux = tfl.model({ inputs: this.model.inputs, outputs: this.probes.map((p) => p.tensor) });
    }
    return this.aux;
  }

  async *run(feeds: Feeds, opts: RunOptions = {}): AsyncIterable<Activation> {
    const aux = this.auxModel();
    const xs = this.inputs().map((s) => {
      const t = feeds.get(s.name) ?? feeds.get(s.name.replace(/:0$/, ''));
      if (!t) throw new InputError(`${this.source}: no feed for input '${s.name}' (feeds: ${[...feeds.keys()].join(', ')})`, { file: this.source, node: s.name });
      return t;
    });
    const outs = tf.tidy(() => {
      const r = aux.predict(xs.length === 1 ? xs[0]! : xs) as tf.Tensor | tf.Tensor[];
      return Array.isArray(r) ? r : [r];
    });
    const record = opts.record && opts.record !== 'all' ? new Set(opts.record) : null;
    try {
      for (let i = 0; i < this.probes.length; i++) {
        const p = this.probes[i]!;
        const t = outs[i]!;
        if (record && !record.has(p.name) && !this.outputs().includes(p.name)) continue;
        const k = /:(\d+)$/.exec(p.name);
        yield { name: p.name, type: p.type, tensor: tf.clone(t), producedFrom: p.producedFrom, ...(p.layout ? { layout: p.layout } : {}), index: i, outputIndex: k ? Number(k[1]) : 0 };
      }
    } finally {
      tf.dispose(outs);
    }
  }

  async runSingle(name: string, inputs: tf.Tensor[]): Promise<tf.Tensor[]> {
    const base = name.replace(/(@call\d+)?(:\d+)?$/, '');
    let layer: tfl.layers.Layer;
    try {
      layer = this.model.getLayer(base);
    } catch {
      throw new InputError(`${this.source}: no layer '${base}'`, { file: this.source, node: base });
    }
    const r = tf.tidy(() => layer.apply(inputs.length === 1 ? inputs[0]! : inputs) as tf.Tensor | tf.Tensor[]);
    return Array.isArray(r) ? r : [r];
  }

  dispose(): void {
    this.model.dispose();
  }
}
