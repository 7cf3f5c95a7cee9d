import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it, vi } from 'vitest';
import { compare } from '../../src/index.js';
import { encodeGraphDef } from '../../src/formats/graphdef-writer.js';
import { A, GraphBuilder } from '../fixtures/graph.js';

const f32 = A.dtype('float32');

describe('a feed in another shape than declared', () => {
  it("is a warning in the Result's run.warnings, not a line the library prints", async () => {
    // The original: two scalar-declared inputs (a producer-22 graph: an empty shape is a
    // scalar), fed [3]. The candidate: the same graph as TF 1.1 wrote it (producer 9: an empty
    // shape is unknown), so it takes the feeds as they are.
    const dir = mkdtempSync(join(tmpdir(), 'feed-warn-'));
    const write = (producer: number): string => {
      const g = new GraphBuilder();
      for (const n of ['a', 'b']) g.op('Placeholder', n, [], { dtype: f32, shape: A.shape([]) });
      g.op('Mul', 'c', ['a', 'b'], { T: f32 });
      const graph = g.build(['c']);
      graph.producer = producer;
      const file = join(dir, `mul${producer}.pb`);
      writeFileSync(file, encodeGraphDef(graph));
      return file;
    };
    const [original, candidate] = [write(22), write(9)];
    const stderr = vi.spyOn(process.stderr, 'write');
    try {
      const r = await compare(original, candidate, { shapes: { a: [3], b: [3] }, iterations: 2 });
      expect(r.verdict).toBe('equivalent');
      // Once each, over both iterations.
      expect(r.run.warnings).toEqual([
        "input 'a' is declared [] but is fed [3]: running it as fed (as TF's C API does; the ops decide)",
        "input 'b' is declared [] but is fed [3]: running it as fed (as TF's C API does; the ops decide)",
      ]);
      expect(stderr.mock.calls.map((c) => String(c[0])).filter((l) => l.includes('warning'))).toEqual([]);
    } finally {
      stderr.mockRestore();
    }
  });
});
