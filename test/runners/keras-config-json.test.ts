import { describe, expect, it } from 'vitest';
import { parseKerasJson } from '../../src/runners/keras/config-json.js';

/** Float literals in recorded calls survive parsing; everything else parses as JSON.parse does. */
describe('parseKerasJson', () => {
  it('marks 2.0, 1e0, -0.5 inside inbound_nodes, not 2, and leaves layer configs as numbers', () => {
    const text = '{"config": {"scale": 1.0, "layers": [{"name": "a \\"2.0\\"", "config": {"rate": 0.5}, "inbound_nodes": [{"args": [2.0, 2, [1e0, -0.5]], "kwargs": {"y": 3.25, "s": "4.0"}}]}]}, "after": 7.0}';
    const v = parseKerasJson(text) as { config: { scale: unknown; layers: { name: string; config: { rate: unknown }; inbound_nodes: { args: unknown[]; kwargs: Record<string, unknown> }[] }[] }; after: unknown };
    const l = v.config.layers[0]!;
    expect(l.inbound_nodes[0]!.args).toEqual([{ $float: 2 }, 2, [{ $float: 1 }, { $float: -0.5 }]]);
    expect(l.inbound_nodes[0]!.kwargs).toEqual({ y: { $float: 3.25 }, s: '4.0' });
    expect([v.config.scale, l.config.rate, v.after, l.name]).toEqual([1, 0.5, 7, 'a "2.0"']);
    // Without float literals in calls it is JSON.parse.
    expect(parseKerasJson('{"inbound_nodes": [[["x", 0, 0, {}]]], "a": 1.5}')).toEqual(JSON.parse('{"inbound_nodes": [[["x", 0, 0, {}]]], "a": 1.5}'));
  });
});
