import type protobuf from 'protobufjs';

/**
 * Protobuf's JSON mapping (lowerCamelCase keys, enums by name, int64 as strings, bytes as base64),
 * as tfjs model.json files use it, turned into a protobufjs message of type T. Keys are matched
 * by JSON name or by the .proto name; protobufjs.fromObject then does the value conversions, so
 * a model.json node decodes through exactly the same code as a binary NodeDef.
 * Unknown keys are dropped (as protobuf's JSON parser with ignore_unknown_fields does).
 */
export function messageFromJson(T: protobuf.Type, json: unknown): protobuf.Message {
  return T.fromObject(renameKeys(T, json) as Record<string, unknown>);
}

const byJsonName = new WeakMap<protobuf.Type, Map<string, protobuf.Field>>();

function fieldsOf(T: protobuf.Type): Map<string, protobuf.Field> {
  let m = byJsonName.get(T);
  if (!m) {
    m = new Map();
    for (const f of T.fieldsArray) {
      m.set(f.name, f);
      m.set(f.name.replace(/_([a-z0-9])/g, (_s, c: string) => c.toUpperCase()), f);
    }
    byJsonName.set(T, m);
  }
  return m;
}

function isType(r: protobuf.ReflectionObject | null): r is protobuf.Type {
  return !!r && 'fieldsArray' in r;
}

function renameKeys(T: protobuf.Type, json: unknown): unknown {
  if (json === null || typeof json !== 'object' || Array.isArray(json)) return json;
  const out: Record<string, unknown> = {};
  const fields = fieldsOf(T);
  for (const [k, v] of Object.entries(json as Record<string, unknown>)) {
    const f = fields.get(k);
    if (!f || v === null || v === undefined) continue;
    f.resolve();
    const sub = f.resolvedType;
    if (!isType(sub)) {
      out[f.name] = v;
    } else if (f.map) {
      out[f.name] = v && typeof v === 'object' && !Array.isArray(v)
        ? Object.fromEntries(Object.entries(v as Record<string, unknown>).map(([mk, mv]) => [mk, renameKeys(sub, mv)]))
        : v;
    } else if (f.repeated && Array.isArray(v)) {
      out[f.name] = v.map((x) => renameKeys(sub, x));
    } else {
      out[f.name] = renameKeys(sub, v);
    }
  }
  return out;
}
