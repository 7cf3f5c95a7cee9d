import { zipSync } from 'fflate';
import { describe, expect, it } from 'vitest';
import { FormatError, LimitError } from '../../src/core/errors.js';
import { readZip, writeZip } from '../../src/formats/zip.js';

describe('safe zip reading', () => {
  it('round-trips entries and refuses absolute paths, "..", duplicates and corrupt archives', () => {
    const z = writeZip([['a.txt', Uint8Array.from([1, 2])], ['dir/b', Uint8Array.from([3])]]);
    expect([...readZip(z, 'ok.zip')].map(([k, v]) => [k, Array.from(v)])).toEqual([['a.txt', [1, 2]], ['dir/b', [3]]]);
    expect(() => readZip(zipSync({ '/etc/passwd': Uint8Array.from([1]) }), 'abs.zip')).toThrow(/abs\.zip: zip entry '\/etc\/passwd' has an absolute path/);
    expect(() => readZip(zipSync({ 'a/../../x': Uint8Array.from([1]) }), 'dots.zip')).toThrow(/dots\.zip: zip entry 'a\/\.\.\/\.\.\/x' contains '\.\.'/);
    expect(() => readZip(z.subarray(0, z.length - 30), 'cut.zip')).toThrow(FormatError);
    expect(() => readZip(Uint8Array.from([1, 2, 3]), 'junk.zip')).toThrow(/not a zip archive/);
  });

  it('refuses a zip bomb from its declared sizes, before inflating', () => {
    // 64 MiB of zeros deflates to ~64 KiB: a 1000x+ expansion.
    const bomb = zipSync({ 'model.weights.h5': new Uint8Array(64 * 1024 * 1024) }, { level: 9 });
    expect(bomb.length).toBeLessThan(200_000);
    expect(() => readZip(bomb, 'bomb.keras')).toThrow(LimitError);
    expect(() => readZip(bomb, 'bomb.keras')).toThrow(/expands \d+x \(over the 1000x limit\)/);
    expect(() => readZip(bomb, 'bomb.keras', { maxTotalBytes: 1024, maxRatio: 1e9, maxEntries: 10 })).toThrow(/declared uncompressed size exceeds 1024 bytes/);
  });
});
