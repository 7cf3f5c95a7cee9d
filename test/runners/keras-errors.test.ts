import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { zipSync } from 'fflate';
import { afterAll, describe, expect, it } from 'vitest';
import { FormatError, ParityError, UnsupportedError } from '../../src/core/errors.js';
import { loadKerasRunner } from '../../src/runners/keras/index.js';
import { kerasArchive, keras3Config, keras3WeightEntries, sequentialCnn, setDeterministicWeights, twoInputModel, writeH5, writeKeras3, writeLegacyH5 } from '../fixtures/keras-writer.js';

const dir = mkdtempSync(join(tmpdir(), 'parity-keras-err-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

type J = Record<string, unknown>;

async function failure(p: Promise<unknown>): Promise<ParityError> {
  try {
    const r = await p;
    (r as { dispose?: () => void }).dispose?.();
  } catch (e) {
    expect(e).toBeInstanceOf(ParityError);
    return e as ParityError;
  }
  throw new Error('expected the load to fail');
}

const policy = { module: 'keras', class_name: 'DTypePolicy', config: { name: 'float32' }, registered_name: null };
const layer = (cls: string, name: string, config: J = {}, extra: J = {}): J => ({ module: 'keras.layers', class_name: cls, config: { name, dtype: policy, ...config }, registered_name: null, ...extra });

function sequentialConfig(layers: J[]): J {
  return {
    module: 'keras',
    class_name: 'Sequential',
    config: { name: 'seq', layers: [{ module: 'keras.layers', class_name: 'InputLayer', config: { batch_shape: [null, 4], dtype: 'float32', name: 'x' }, registered_name: null }, ...layers] },
    registered_name: null,
  };
}

describe('Keras runner: refusals name the file, the layer and what is wrong', () => {
  it('reports every unsupported layer at once: Lambda, an unknown class, a custom object and an option tfjs would ignore', async () => {
    const cfg = sequentialConfig([
      layer('Dense', 'ok_dense', { units: 4 }),
      layer('Lambda', 'my_lambda', { function: { class_name: '__lambda__', config: { code: 'ZXZpbA==' } } }),
      layer('MyCustomLayer', 'custom_1', {}, { module: 'my_package.layers', registered_name: 'MyPackage>MyCustomLayer' }),
      layer('Dense', 'sneaky_dense', { units: 4 }, { module: 'my_package.layers', registered_name: 'MyPackage>Dense' }),
      layer('Conv1D', 'grouped', { filters: 4, kernel_size: 1, groups: 2 }),
      layer('Dense', 'sparse', { units: 4, activation: 'sparsemax' }),
    ]);
    const f = join(dir, 'unsupported.keras');
    writeFileSync(f, await kerasArchive(cfg, []));
    const e = await failure(loadKerasRunner(f));
    expect(e).toBeInstanceOf(UnsupportedError);
    const u = e as UnsupportedError;
    expect(u.file).toBe(f);
    expect(u.message).toContain(f);
    const names = u.items.flatMap((i) => i.nodes).sort();
    expect(names).toEqual(['custom_1', 'grouped', 'my_lambda', 'sneaky_dense', 'sparse']);
    expect(u.message).toMatch(/Lambda.*my_lambda/);
    expect(u.message).toMatch(/MyCustomLayer.*custom_1/);
    expect(u.message).toMatch(/groups=2.*grouped/);
    expect(u.message).toMatch(/sparsemax.*sparse/);
    expect(u.message).not.toContain('ok_dense');
  });

  it('finds unsupported layers inside nested models and wrappers too', async () => {
    const inner = sequentialConfig([layer('Lambda', 'deep_lambda', {})]);
    const wrapped = layer('TimeDistributed', 'td', { layer: layer('MyCell', 'cell_x', {}, { registered_name: 'Custom>MyCell' }) });
    const cfg = sequentialConfig([{ ...inner, config: { ...(inner.config as J), name: 'inner' } }, wrapped]);
    const f = join(dir, 'nested-unsupported.keras');
    writeFileSync(f, await kerasArchive(cfg, []));
    const e = (await failure(loadKerasRunner(f))) as UnsupportedError;
    expect(e).toBeInstanceOf(UnsupportedError);
    expect(e.items.flatMap((i) => i.nodes).sort()).toEqual(['inner/deep_lambda', 'td/cell_x']);
  });

  it('a missing weight names the layer and the weight', async () => {
    const model = sequentialCnn();
    setDeterministicWeights(model);
    const f = await writeKeras3(model, join(dir, 'missing.keras'), { weights: (es) => es.filter((e) => e.path !== 'layers/dense/vars/1') });
    const e = await failure(loadKerasRunner(f));
    expect(e).toBeInstanceOf(FormatError);
    expect(e.node).toBe('fc');
    expect(e.message).toMatch(/layer 'fc' \(Dense\) is missing weight\(s\) 'fc\/bias'/);
    expect(e.message).toContain(f);

    const g = await writeKeras3(model, join(dir, 'missing-layer.keras'), { weights: (es) => es.filter((x) => !x.path.startsWith('layers/batch_normalization/')) });
    const e2 = await failure(loadKerasRunner(g));
    expect(e2.message).toMatch(/no weights for layer 'bn' \(BatchNormalization\): expected group 'layers\/batch_normalization'/);

    const h = await writeLegacyH5(model, join(dir, 'missing.h5'), { weights: (es) => es.filter((x) => !x.path.endsWith('moving_variance:0')) });
    const e3 = await failure(loadKerasRunner(h));
    expect(e3.message).toMatch(/layer 'bn' is missing weight 'bn\/moving_variance:0'/);
    expect(e3.node).toBe('bn');
    model.dispose();
  });

  it('a weight of the wrong shape names the layer, the weight and both shapes', async () => {
    const model = sequentialCnn();
    setDeterministicWeights(model);
    const f = await writeKeras3(model, join(dir, 'shape.keras'), {
      weights: (es) => es.map((e) => (e.path === 'layers/conv2d/vars/0' ? { ...e, shape: [3, 3, 3, 2], data: e.data } : e)),
    });
    const e = await failure(loadKerasRunner(f));
    expect(e).toBeInstanceOf(FormatError);
    expect(e.message).toMatch(/layer 'conv' weight 'conv\/kernel' has shape \[3,3,3,2\] in the file \(layers\/conv2d\/vars\/0\) but the layer expects \[3,3,2,3\]/);
    expect(e.message).toContain(`${f}[model.weights.h5]`);
    expect(e.file).toBe(f);
    expect(e.node).toBe('conv');
    model.dispose();
  });

  it('extra weights are warned about, not fatal', async () => {
    const model = twoInputModel();
    setDeterministicWeights(model);
    const f = await writeKeras3(model, join(dir, 'extra.keras'), {
      weights: (es) => [...es, { path: 'layers/dense/vars/2', shape: [1], data: new Float32Array(1) }, { path: 'layers/dense_9/vars/0', shape: [1], data: new Float32Array(1) }],
    });
    const r = (await loadKerasRunner(f)) as unknown as { warnings: string[]; dispose(): void };
    expect(r.warnings.join('\n')).toMatch(/layer 'shared' has 1 extra weight/);
    expect(r.warnings.join('\n')).toMatch(/layers\/dense_9' holds 1 weight\(s\) no layer of the model uses/);
    r.dispose();
    model.dispose();
  });

  it('corrupt and truncated archives, ".." entries and non-Keras bytes are FormatErrors naming the file', async () => {
    const model = sequentialCnn();
    const good = readFileSync(await writeKeras3(model, join(dir, 'good.keras')));
    const trunc = join(dir, 'truncated.keras');
    writeFileSync(trunc, good.subarray(0, Math.floor(good.length / 2)));
    const e1 = await failure(loadKerasRunner(trunc));
    expect(e1).toBeInstanceOf(FormatError);
    expect(e1.file).toBe(trunc);

    const slip = join(dir, 'slip.keras');
    writeFileSync(slip, zipSync({ 'config.json': new TextEncoder().encode(JSON.stringify(keras3Config(model))), '../evil.h5': new Uint8Array(4) }));
    const e2 = await failure(loadKerasRunner(slip));
    expect(e2).toBeInstanceOf(FormatError);
    expect(e2.message).toMatch(/'\.\.\/evil\.h5' contains '\.\.'/);

    const text = join(dir, 'text.keras');
    writeFileSync(text, 'not a model');
    expect((await failure(loadKerasRunner(text))).message).toMatch(/text\.keras: not a Keras model file/);

    const noCfg = join(dir, 'nocfg.keras');
    writeFileSync(noCfg, zipSync({ 'readme.txt': new Uint8Array(3) }));
    expect((await failure(loadKerasRunner(noCfg))).message).toMatch(/no config\.json/);
    model.dispose();
  });

  it('weights stored as .npz inside the archive are refused without being unpickled', async () => {
    const model = sequentialCnn();
    const f = join(dir, 'npz.keras');
    writeFileSync(f, zipSync({ 'config.json': new TextEncoder().encode(JSON.stringify(keras3Config(model))), 'model.weights.npz': new Uint8Array([0x50, 0x4b, 3, 4]) }));
    const e = await failure(loadKerasRunner(f));
    expect(e).toBeInstanceOf(FormatError);
    expect(e.message).toMatch(/'model\.weights\.npz'.*never unpickles/);
    model.dispose();
  });

  it('corrupt HDF5, a weights-only .h5 and a config without weights are refused clearly', async () => {
    const model = sequentialCnn();
    setDeterministicWeights(model);
    const good = readFileSync(await writeLegacyH5(model, join(dir, 'ok.h5')));
    const bad = join(dir, 'corrupt.h5');
    const damaged = new Uint8Array(good);
    damaged.fill(0xab, 8, Math.min(damaged.length, 4096));
    writeFileSync(bad, damaged);
    const e1 = await failure(loadKerasRunner(bad));
    expect(e1).toBeInstanceOf(FormatError);
    expect(e1.message).toContain(bad);
    expect(e1.message).not.toMatch(/HDF5-DIAG|#00/);

    const weightsOnly = join(dir, 'weights-only.h5');
    writeFileSync(weightsOnly, await writeH5([{ path: 'dense/dense/kernel:0', shape: [1], data: new Float32Array(1) }], [{ path: '', name: 'layer_names', value: ['dense'] }]));
    const e2 = await failure(loadKerasRunner(weightsOnly));
    expect(e2.message).toMatch(/weights-only file.*architecture is missing/);

    const k3weights = join(dir, 'model.weights.h5');
    writeFileSync(k3weights, await writeH5(keras3WeightEntries(model)));
    expect((await failure(loadKerasRunner(k3weights))).message).toMatch(/Keras 3 weights file.*architecture is missing/);

    const cfgOnly = join(dir, 'config-only.h5');
    writeFileSync(cfgOnly, await writeH5([], [{ path: '', name: 'model_config', value: JSON.stringify({ class_name: 'Sequential', config: { name: 's', layers: [{ class_name: 'Dense', config: { name: 'd', units: 2, batch_input_shape: [null, 3] } }] } }) }]));
    expect((await failure(loadKerasRunner(cfgOnly))).message).toMatch(/no 'model_weights' group/);
    model.dispose();
  });

  it('a top-level subclassed model cannot be rebuilt', async () => {
    const f = join(dir, 'subclassed.keras');
    writeFileSync(f, await kerasArchive({ module: 'my_models', class_name: 'MyModel', config: { units: 3 }, registered_name: 'MyModels>MyModel' }, []));
    const e = await failure(loadKerasRunner(f));
    expect(e).toBeInstanceOf(UnsupportedError);
    expect(e.message).toMatch(/top-level model is a 'MyModel' \(custom class 'MyModels>MyModel'\)/);
  });
});
