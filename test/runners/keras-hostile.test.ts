import { existsSync, type Mode, type OpenMode, type PathLike } from 'node:fs';
import { describe, expect, it, vi } from 'vitest';

/**
 * Every filesystem call that could write is recorded, for the whole module graph (the loaders
 * import node:fs by name), so the test sees any write the Keras loader makes, wherever it is.
 */
const writes = vi.hoisted(() => [] as string[]);
vi.mock('node:fs', async (importOriginal) => {
  const fs = await importOriginal<typeof import('node:fs')>();
  const spy =
    <A extends unknown[], R>(name: string, f: (...a: A) => R) =>
    (...a: A): R => {
      writes.push(`${name}(${String(a[0])})`);
      return f(...a);
    };
  return {
    ...fs,
    default: fs,
    writeFileSync: spy('writeFileSync', fs.writeFileSync),
    writeFile: spy('writeFile', fs.writeFile),
    appendFileSync: spy('appendFileSync', fs.appendFileSync),
    mkdirSync: spy('mkdirSync', fs.mkdirSync),
    mkdtempSync: spy('mkdtempSync', fs.mkdtempSync),
    createWriteStream: spy('createWriteStream', fs.createWriteStream),
    openSync: (p: PathLike, flags?: OpenMode, mode?: Mode) => {
      if (flags !== undefined && flags !== 'r') writes.push(`openSync(${String(p)}, ${String(flags)})`);
      return fs.openSync(p, flags ?? 'r', mode);
    },
  };
});

const { FormatError } = await import('../../src/core/errors.js');
const { loadKerasRunner } = await import('../../src/runners/keras/index.js');
const { writeZip } = await import('../../src/formats/zip.js');

const EVIL = '/work/shared/models/hostile/evil-keras/model.keras';

describe('hostile .keras files', () => {
  it.skipIf(!existsSync(EVIL))('evil-keras (duplicate entry names, pickled .npz weights) is refused clearly and nothing is written', async () => {
    writes.length = 0;
    const e = await loadKerasRunner(EVIL).then(
      () => null,
      (x: unknown) => x,
    );
    expect(e).toBeInstanceOf(FormatError);
    expect((e as Error).message).toContain(EVIL);
    expect((e as Error).message).toMatch(/appears twice/);
    expect(writes).toEqual([]);
  });

  it('a single pickled .npz weights entry is refused without reading it, and nothing is written', async () => {
    const { mkdtempSync, rmSync, writeFileSync } = await import('node:fs');
    const { tmpdir } = await import('node:os');
    const dir = mkdtempSync(`${tmpdir()}/parity-hostile-`);
    const f = `${dir}/npz.keras`;
    const cfg = { module: 'keras', class_name: 'Sequential', config: { name: 's', layers: [{ class_name: 'InputLayer', config: { batch_shape: [null, 2], name: 'x' } }, { class_name: 'Dense', config: { name: 'd', units: 1 } }] } };
    // A pickle that would run os.system if anything unpickled it.
    const pickle = new TextEncoder().encode("cos\nsystem\n(S'touch /tmp/parity-pwned'\ntR.");
    writeFileSync(f, writeZip([['config.json', new TextEncoder().encode(JSON.stringify(cfg))], ['model.weights.npz', pickle]]));
    writes.length = 0;
    const e = await loadKerasRunner(f).then(
      () => null,
      (x: unknown) => x,
    );
    expect(e).toBeInstanceOf(FormatError);
    expect((e as Error).message).toMatch(/never unpickles/);
    expect(writes).toEqual([]);
    expect(existsSync('/tmp/parity-pwned')).toBe(false);
    rmSync(dir, { recursive: true, force: true });
  });

  it('the spy sees writes (so an empty list above means something)', async () => {
    const { writeFileSync, rmSync } = await import('node:fs');
    const { tmpdir } = await import('node:os');
    writes.length = 0;
    const p = `${tmpdir()}/parity-spy-${process.pid}`;
    writeFileSync(p, 'x');
    rmSync(p);
    expect(writes).toEqual([`writeFileSync(${p})`]);
  });
});
