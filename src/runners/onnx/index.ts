import { readFileSync } from 'node:fs';
import type * as tf from '@tensorflow/tfjs-core';
import type * as Ort from 'onnxruntime-node';
import { ExecutionError, FormatError, InputError, ParityError, UnsupportedError, errorMessage } from '../../core/errors.js';
import type { Activation, Feeds, Layout, RunOptions, Runner } from '../../core/runner.js';
import { opRole } from '../../core/runner.js';
import { shapeToString, type TensorSpec } from '../../core/tensor.js';
import { inferLayouts } from './layout.js';
import { OnnxModel, type NodeInfo } from './model.js';
import { ORT_TYPE_OF_ELEM, ortToTf, ortTypeOfTf, tfToOrt, type OrtType, type Where } from './tensors.js';
import { stripPort } from '../../core/names.js';
import { checkFeeds } from '../../core/feeds.js';

/**
 * ONNX candidates, run by onnxruntime-node on the CPU. The model is rewritten so every node
 * output is also a graph output (see OnnxModel.withAllOutputs), one session runs it, and the
 * values are yielded in the file's node order, which ONNX requires to be topological.
 *
 * Graph optimisations are off by default: each node then runs as its own kernel, as the ONNX
 * spec defines it, and a node re-run alone (runSingle) computes what it computed in the full
 * run. `graphOptimizationLevel: 'all'` gives the numerics of a default onnxruntime session
 * instead (its layout transforms can move results by an ulp or so); intermediates survive any
 * level, since graph outputs are never fused away.
 */

export type GraphOptimizationLevel = 'disabled' | 'basic' | 'extended' | 'all';

export interface OnnxRunnerOptions {
  graphOptimizationLevel?: GraphOptimizationLevel;
}

type OrtModule = typeof Ort;

let ortModule: OrtModule | undefined;
/**
 * onnxruntime-node is an optional peer dependency (its install script downloads CUDA libraries,
 * which a project that installs tf-parity should not have to allow or skip): loaded when an
 * ONNX model is first run, with one line naming what to install when it is missing.
 */
async function loadOrt(path: string): Promise<OrtModule> {
  try {
    ortModule ??= (await import('onnxruntime-node')) as OrtModule;
  } catch (e) {
    const missing = (e as NodeJS.ErrnoException).code === 'ERR_MODULE_NOT_FOUND' && /onnxruntime-node/.test(errorMessage(e));
    throw new ParityError(
      missing
        ? `${path}: ONNX models run on onnxruntime-node, which is not installed: run 'npm i onnxruntime-node' (ONNXRUNTIME_NODE_INSTALL=skip skips its CUDA download)`
        : `${path}: onnxruntime-node could not be loaded: ${errorMessage(e)}`,
      { file: path, code: 'missing-dependency', cause: e },
    );
  }
  return ortModule;
}

function sessionOptions(level: GraphOptimizationLevel): Ort.InferenceSession.SessionOptions {
  // Severity 4 (fatal only): onnxruntime's warnings would otherwise interleave with the CLI's
  // output, and its errors (in colour, with C++ source locations) come back to us as exceptions,
  // which are reported once, naming the file and the node.
  // No memory arena: a session here runs once or a few times, every node output a graph output.
  // In a process that opens one session after another (the API, a benchmark), the arena's
  // blocks made blazeface's NCHW port run in 37-130 ms (outputs only) and 160-235 ms (every
  // output) against 14-19 and 43-57 ms without it. A one-shot CLI comparison takes the same
  // time either way (1.5-1.7 s here).
  return { executionProviders: ['cpu'], graphOptimizationLevel: level, logSeverityLevel: 4, enableCpuMemArena: false };
}

/**
 * onnxruntime's message without the C++ source locations and signatures in it
 * ("/onnxruntime_src/…/reshape_helper.h:91 onnxruntime::ReshapeHelper::ReshapeHelper(…) "), at
 * its start or after "Status Message: ".
 */
function firstLine(e: unknown): string {
  return errorMessage(e)
    .split('\n')[0]!
    .replace(/(^|\s)\/\S+\.(?:h|hpp|cc|cpp|c):\d+ [^]*?\) (?=\S)/g, '$1')
    .replace(/^\/\S+:\d+ [^]*?\) (?=\S)/, '')
    .trim();
}

/** onnxruntime's session-creation failure as a ParityError naming the file and, when it can, the op. */
function loadError(e: unknown, file: string, model: OnnxModel): ParityError {
  const msg = firstLine(e);
  const nodesOf = (op: string, domain?: string): string[] => model.nodes.filter((n) => n.op === op && (domain === undefined || n.domain === domain)).map((n) => n.name);
  // "com.example:Frobnicate(-1) is not a registered function/op"
  let m = /(?:([\w.]+):)?(\w+)\((-?\d+)\) is not a registered function\/op/.exec(msg);
  if (m) {
    const op = m[1] ? `${m[1]}::${m[2]}` : m[2]!;
    return new UnsupportedError(`${file}: onnxruntime has no op ${op} (opset ${m[3]}), used by ${nodesOf(m[2]!, m[1] ?? '').join(', ') || 'the model'}: ${msg}`, [{ op, nodes: nodesOf(m[2]!, m[1] ?? '') }], { file });
  }
  // "Could not find an implementation for Relu(14) node with name 'r'" (op exists, not for these types)
  m = /Could not find an implementation for (\w+)\((\d+)\) node with name '([^']*)'/.exec(msg);
  if (m) {
    return new UnsupportedError(`${file}: onnxruntime has no kernel for ${m[1]} (opset ${m[2]}) with the input types of node '${m[3]}': ${msg}`, [{ op: m[1]!, nodes: [m[3]!] }], { file });
  }
  // "No Op registered for Frobnicate with domain_version of 13"
  m = /No Op registered for (\w+) with domain_version of (\d+)/.exec(msg);
  if (m) {
    return new UnsupportedError(`${file}: onnxruntime has no op ${m[1]} in opset ${m[2]}, used by ${nodesOf(m[1]!).join(', ') || 'the model'}: ${msg}`, [{ op: m[1]!, nodes: nodesOf(m[1]!) }], { file });
  }
  return new FormatError(`${file}: onnxruntime cannot load the model: ${msg}`, { file, cause: e });
}

export class OnnxRunner implements Runner {
  readonly kind = 'onnx';
  /** Element type of every graph input and tensor-valued node output, as onnxruntime inferred it. */
  private readonly valueTypes = new Map<string, OrtType>();
  private readonly tensorValues = new Set<string>();
  private readonly layoutOf: (name: string, rank: number) => Layout | undefined;
  private released = false;

  constructor(
    readonly source: string,
    private readonly model: OnnxModel,
    private readonly ort: OrtModule,
    private readonly session: Ort.InferenceSession,
    private readonly level: GraphOptimizationLevel,
  ) {
    for (const m of [...session.inputMetadata, ...session.outputMetadata]) {
      if (!m.isTensor) continue;
      this.valueTypes.set(m.name, m.type);
      this.tensorValues.add(m.name);
    }
    this.layoutOf = inferLayouts(model.nodes, model.inputSpecs.map((s) => s.name), model.constants);
  }

  inputs(): TensorSpec[] {
    return this.model.inputSpecs.map((s) => ({ ...s, shape: s.shape ? s.shape.slice() : null }));
  }

  outputs(): string[] {
    return this.model.outputNames.slice();
  }

  private where(name: string): Where {
    return { file: this.source, name, ...(this.model.indexValues.has(name) ? { sliceIndex: true } : {}) };
  }

  /** What may stop a comparison of this model (see OnnxModel.int64Problems); `inspect` prints it. */
  get warnings(): string[] {
    return this.model.int64Problems();
  }

  private ortFeeds(feeds: Feeds): Record<string, Ort.Tensor> {
    const out: Record<string, Ort.Tensor> = {};
    const given = checkFeeds(this.source, this.model.inputSpecs, feeds);
    for (const [i, spec] of this.model.inputSpecs.entries()) {
      const t = given[i]!;
      const elem = this.model.inputElem.get(spec.name) ?? 0;
      const type = this.valueTypes.get(spec.name) ?? ORT_TYPE_OF_ELEM[elem];
      if (!type) throw new InputError(`${this.source}: input '${spec.name}' has ONNX element type ${elem}, which tf-parity cannot feed`, { file: this.source, node: spec.name });
      out[spec.name] = tfToOrt(this.ort, t, type, this.where(spec.name));
    }
    return out;
  }

  async *run(feeds: Feeds, opts: RunOptions = {}): AsyncIterable<Activation> {
    if (this.released) throw new ExecutionError(`${this.source}: the ONNX runner was disposed`, { file: this.source });
    const ortFeeds = this.ortFeeds(feeds);
    const record = opts.record && opts.record !== 'all' ? new Set(opts.record.flatMap((r) => [r, stripPort(r)])) : null;
    const order = this.model.nodes.flatMap((n) => n.outputs.filter((o) => this.tensorValues.has(o)).map((o) => ({ node: n, name: o })));
    const wanted = order.filter((v) => !record || record.has(v.name));
    if (wanted.length === 0) return;
    let results: Partial<Record<string, Ort.Tensor>>;
    try {
      results = (await this.session.run(ortFeeds, wanted.map((v) => v.name))) as Partial<Record<string, Ort.Tensor>>;
    } catch (e) {
      throw new ExecutionError(`${this.source}: onnxruntime failed to run the model: ${firstLine(e)}`, { file: this.source, cause: e });
    }
    let index = 0;
    for (const { node, name } of wanted) {
      const r = results[name];
      if (!r) continue;
      // Drop our reference as we go, so a consumer that disposes each activation keeps memory flat.
      results[name] = undefined;
      const tensor = ortToTf(r, this.where(name));
      const layout = this.layoutOf(name, tensor.rank);
      const role = node.domain === '' ? opRole(node.op) : undefined;
      yield { name, type: node.op, tensor, producedFrom: node.dataInputs.slice(), ...(layout ? { layout } : {}), ...(role ? { role } : {}), index: index++, outputIndex: Math.max(0, node.outputs.indexOf(name)) };
    }
  }

  /**
   * The node producing `output`, alone in a model with its attributes, initializers and
   * Constant-node inputs, run on `inputs`: one tensor per entry of the activation's
   * producedFrom, in that order. Returns every output of the node, in the node's order.
   */
  async runSingle(output: string, inputs: tf.Tensor[]): Promise<tf.Tensor[]> {
    const node: NodeInfo | undefined = this.model.producerOf(output) ?? this.model.producerOf(stripPort(output));
    if (!node) throw new InputError(`${this.source}: no node produces '${output}'`, { file: this.source, node: output });
    if (inputs.length !== node.dataInputs.length) {
      throw new InputError(
        `${this.source}: node '${node.name}' (${node.op}) takes ${node.dataInputs.length} non-constant input(s) (${node.dataInputs.join(', ')}), got ${inputs.length}`,
        { file: this.source, node: node.name },
      );
    }
    const types = new Map<string, { type: OrtType; shape: number[] }>();
    const feeds: Record<string, Ort.Tensor> = {};
    node.dataInputs.forEach((name, i) => {
      // An input used twice (Mul(x, x)) is one graph input, fed once.
      if (types.has(name)) return;
      const t = inputs[i]!;
      const type = this.valueTypes.get(name) ?? ortTypeOfTf(t);
      types.set(name, { type, shape: t.shape.slice() });
      feeds[name] = tfToOrt(this.ort, t, type, this.where(name));
    });
    let session: Ort.InferenceSession;
    try {
      session = await this.ort.InferenceSession.create(this.model.singleNode(node, types), sessionOptions(this.level));
    } catch (e) {
      throw new ExecutionError(`${this.source}: node '${node.name}' (${node.op}) cannot be run alone: ${firstLine(e)}`, { file: this.source, node: node.name, cause: e });
    }
    try {
      const r = await session.run(feeds);
      return node.outputs.filter((o) => r[o]).map((o) => ortToTf(r[o] as Ort.Tensor, this.where(o)));
    } catch (e) {
      if (e instanceof ParityError) throw e;
      throw new ExecutionError(`${this.source}: node '${node.name}' (${node.op}) failed when run alone on the given inputs: ${firstLine(e)}`, { file: this.source, node: node.name, cause: e });
    } finally {
      await session.release();
    }
  }

  files(): string[] {
    return [...this.model.externalFiles];
  }

  dispose(): void {
    if (this.released) return;
    this.released = true;
    this.session.release().catch(() => undefined);
  }
}

/**
 * Loads an .onnx model and creates its onnxruntime session at once, so a corrupt file or an op
 * onnxruntime cannot run is reported before anything executes.
 */
export async function loadOnnxRunner(path: string, opts: OnnxRunnerOptions = {}): Promise<OnnxRunner> {
  let bytes: Uint8Array;
  try {
    bytes = new Uint8Array(readFileSync(path));
  } catch (e) {
    throw new InputError(`${path} cannot be read: ${errorMessage(e)}`, { file: path, cause: e });
  }
  const model = OnnxModel.decode(bytes, path);
  const unknown = model.unknownDomainOps();
  if (unknown.length > 0) {
    throw new UnsupportedError(
      `${path}: ${unknown.length} op(s) from domains onnxruntime does not know and the model does not define as functions: ` +
        unknown.map((u) => `${u.op} (${u.nodes.join(', ')})`).join('; '),
      unknown,
      { file: path },
    );
  }
  const ort = await loadOrt(path);
  const level = opts.graphOptimizationLevel ?? 'disabled';
  let session: Ort.InferenceSession;
  try {
    session = await ort.InferenceSession.create(model.withAllOutputs(), sessionOptions(level));
  } catch (e) {
    throw loadError(e, path, model);
  }
  return new OnnxRunner(path, model, ort, session, level);
}
