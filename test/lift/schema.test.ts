import { existsSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import h5wasm from 'h5wasm';
import { readZip } from '../../src/formats/zip.js';
import { lift } from '../../src/lift/index.js';
import { cnn, writePb } from './graphs.js';
import { outDir, readKeras } from './support.js';

/**
 * The written .keras against one Keras 3.15.1 itself wrote (shared/models/keras-v3/mnist-cnn:
 * Conv2D, MaxPooling2D, Flatten, Dense), key by key: each layer entry's keys, each config's keys,
 * metadata.json's keys, and the weight file's layout (groups, `vars` attribute, dataset names and ranks).
 */
const MNIST = '/work/shared/models/keras-v3/mnist-cnn/model.keras';
const REAL = [MNIST, MNIST.replace('/work/shared', `${process.cwd()}/../shared`)].find((p) => existsSync(p));

type J = Record<string, unknown>;

interface H5Node { path: string; kind: string; rank?: number; attrs: string[] }

async function h5Layout(bytes: Uint8Array): Promise<H5Node[]> {
  const mod = (await h5wasm.ready) as unknown as { FS: { writeFile(p: string, d: Uint8Array): void; unlink(p: string): void } };
  const p = `/schema-${Math.random().toString(36).slice(2)}.h5`;
  mod.FS.writeFile(p, bytes);
  const f = new h5wasm.File(p, 'r');
  const out: H5Node[] = [];
  const walk = (g: { keys?: () => string[]; get?: (k: string) => unknown; type?: string; shape?: number[]; attrs?: Record<string, unknown> }, path: string) => {
    out.push({ path, kind: String(g.type), ...(g.shape ? { rank: g.shape.length } : {}), attrs: Object.keys(g.attrs ?? {}).sort() });
    if (g.keys) for (const k of g.keys()) walk(g.get!(k) as typeof g, `${path}/${k}`);
  };
  walk(f as unknown as Parameters<typeof walk>[0], '');
  f.close();
  mod.FS.unlink(p);
  return out;
}

describe.skipIf(!REAL)('lift writes .keras files shaped as Keras 3 writes them (mnist-cnn, Keras 3.15.1)', () => {
  it('layer entries, configs, metadata and weight layout match key for key', async () => {
    const out = outDir();
    await lift(writePb(cnn()), { out, prove: false });
    const ours = readKeras(`${out}/model.keras`);
    const e = readZip(new Uint8Array(readFileSync(REAL!)), REAL!);
    const dec = new TextDecoder();
    const theirs = { config: JSON.parse(dec.decode(e.get('config.json')!)) as J, metadata: JSON.parse(dec.decode(e.get('metadata.json')!)) as J, weights: e.get('model.weights.h5')! };
    expect(ours.names.sort()).toEqual([...e.keys()].sort());
    expect(Object.keys(ours.metadata).sort()).toEqual(Object.keys(theirs.metadata).sort());

    const theirLayers = (theirs.config.config as J).layers as J[];
    const ourLayers = (ours.config.config as J).layers as J[];
    let compared = 0;
    for (const cls of ['InputLayer', 'Conv2D', 'MaxPooling2D', 'Flatten', 'Dense']) {
      const t = theirLayers.find((l) => l.class_name === cls)!;
      const o = ourLayers.find((l) => l.class_name === cls)!;
      expect(o, cls).toBeDefined();
      // A functional model's layers carry name and inbound_nodes besides what a Sequential's carry.
      expect(Object.keys(o).filter((k) => k !== 'name' && k !== 'inbound_nodes').sort(), cls).toEqual(Object.keys(t).sort());
      expect(Object.keys(o.config as J), cls).toEqual(Object.keys(t.config as J));
      expect(o.module).toBe(t.module);
      const tc = t.config as J;
      const oc = o.config as J;
      if (tc.dtype && typeof tc.dtype === 'object') {
        const { shared_object_id: _, ...policy } = tc.dtype as J;
        expect(oc.dtype).toEqual(policy);
      }
      for (const k of Object.keys(tc).filter((k) => k.endsWith('_initializer'))) expect(Object.keys(oc[k] as J).sort()).toEqual(Object.keys(tc[k] as J).sort());
      compared++;
    }
    expect(compared).toBe(5);

    const [ourH5, theirH5] = await Promise.all([h5Layout(ours.weights), h5Layout(theirs.weights)]);
    const layerPaths = (l: H5Node[]) => l.filter((n) => n.path.startsWith('/layers/'));
    const theirs2 = new Map(layerPaths(theirH5).map((n) => [n.path, n]));
    let same = 0;
    for (const n of layerPaths(ourH5)) {
      const t = theirs2.get(n.path);
      if (!t) continue;
      expect(n, n.path).toEqual(t);
      same++;
    }
    // conv2d, conv2d_1, dense (group, vars with its name attribute, datasets 0 and 1), flatten and max_pooling2d (group, vars).
    expect(same).toBe(16);
    expect(ourH5.find((n) => n.path === '/vars')?.attrs).toEqual(theirH5.find((n) => n.path === '/vars')?.attrs);
  });
});
