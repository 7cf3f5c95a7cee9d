import dagre from '@dagrejs/dagre';
import type { GraphNodeFacts, Result } from '../compare/result.js';
import { wouldPass } from './console.js';

/**
 * The self-contained HTML report: one file, no network. The graph is laid out here (dagre, in
 * Node) and shipped as coordinates; the page's script only draws, pans, zooms and shows details.
 * Every string from the models reaches the page as JSON data and is put into the DOM with
 * textContent / setAttribute, never as markup, so a node named `<img onerror=…>` stays text.
 */

/** Ops hidden from the graph view: constants and plumbing dominate node counts and say nothing. */
const HIDDEN_OPS = new Set(['Const', 'NoOp', 'Identity', 'VarHandleOp', 'ReadVariableOp', 'VariableV2']);

export interface LaidOutGraph {
  /** label: the name without the common scope, shortened in the middle when still long (nodeLabel). */
  nodes: { name: string; label: string; op: string; x: number; y: number; w: number; h: number; status: GraphNodeFacts['status']; pair?: number }[];
  edges: { from: string; to: string; points: [number, number][] }[];
  width: number;
  height: number;
  hidden: number;
}

/**
 * The scope most names of a model share (`StatefulPartitionedCall/model_1/`): the longest prefix
 * ending in '/' that at least 60% of the names (and at least two) start with, or '' when none
 * (a bare '/' is none).
 * A report shows it once and the names without it.
 */
export function commonScope(names: readonly string[]): string {
  const count = new Map<string, number>();
  for (const n of new Set(names)) {
    for (let i = n.indexOf('/'); i >= 0 && i < n.length - 1; i = n.indexOf('/', i + 1)) {
      const p = n.slice(0, i + 1);
      count.set(p, (count.get(p) ?? 0) + 1);
    }
  }
  const need = Math.max(2, Math.ceil(0.6 * new Set(names).size));
  let best = '';
  // A bare '/' (ONNX exporters start every name with it) is no scope.
  for (const [p, c] of count) if (c >= need && p.length > best.length && p !== '/') best = p;
  return best;
}

/** A name without the scope (when it has more after it). */
export function withoutScope(name: string, scope: string): string {
  return scope && name.startsWith(scope) && name.length > scope.length ? name.slice(scope.length) : name;
}

/** Longest label drawn in a graph node. */
const LABEL_MAX = 40;

/**
 * The label of a graph node: its name without the scope; when still longer than LABEL_MAX, cut in
 * the middle, so both the layer (its start) and the op (its end) stay readable.
 */
export function nodeLabel(name: string, scope: string): string {
  const s = withoutScope(name, scope);
  if (s.length <= LABEL_MAX) return s;
  const head = Math.ceil((LABEL_MAX - 1) / 2);
  return s.slice(0, head) + '…' + s.slice(s.length - (LABEL_MAX - 1 - head));
}

/** Layout of the reference graph with plumbing nodes bypassed (edges rewired through them). */
export function layoutGraph(nodes: GraphNodeFacts[], maxNodes = 4000, scope = commonScope(nodes.map((n) => n.name))): LaidOutGraph {
  const byName = new Map(nodes.map((n) => [n.name, n]));
  const visible = nodes.filter((n) => !HIDDEN_OPS.has(n.op) || n.pair !== undefined).slice(0, maxNodes);
  const vis = new Set(visible.map((n) => n.name));
  const srcName = (ref: string) => ref.replace(/^\^/, '').replace(/:\d+$/, '');
  // Visible sources of a node, looking through hidden nodes.
  const memo = new Map<string, string[]>();
  const sources = (name: string, depth = 0): string[] => {
    if (vis.has(name)) return [name];
    if (memo.has(name)) return memo.get(name)!;
    const n = byName.get(name);
    const out = n && depth < 64 ? [...new Set(n.inputs.filter((r) => !r.startsWith('^')).flatMap((r) => sources(srcName(r), depth + 1)))] : [];
    memo.set(name, out);
    return out;
  };
  if (visible.length > DAGRE_MAX) return layeredLayout(visible, sources, srcName, nodes.length - visible.length, scope);
  const g = new dagre.graphlib.Graph({ multigraph: false });
  g.setGraph({ rankdir: 'TB', nodesep: 18, ranksep: 34, marginx: 20, marginy: 20 });
  g.setDefaultEdgeLabel(() => ({}));
  for (const n of visible) {
    const label = nodeLabel(n.name, scope);
    g.setNode(n.name, { width: Math.max(80, Math.min(280, 7 * Math.max(label.length, n.op.length + 2))), height: 34 });
  }
  for (const n of visible) {
    for (const r of n.inputs) {
      if (r.startsWith('^')) continue;
      for (const s of sources(srcName(r))) if (s !== n.name && g.hasNode(s)) g.setEdge(s, n.name);
    }
  }
  dagre.layout(g);
  const gi = g.graph() as { width?: number; height?: number };
  return {
    nodes: visible.map((n) => {
      const p = g.node(n.name) as { x: number; y: number; width: number; height: number };
      return { name: n.name, label: nodeLabel(n.name, scope), op: n.op, x: p.x, y: p.y, w: p.width, h: p.height, status: n.status, ...(n.pair !== undefined ? { pair: n.pair } : {}) };
    }),
    edges: g.edges().map((e: { v: string; w: string }) => {
      const pts = ((g.edge(e) as { points?: { x: number; y: number }[] }).points ?? []).map((p) => [Math.round(p.x), Math.round(p.y)] as [number, number]);
      return { from: e.v, to: e.w, points: pts };
    }),
    width: gi.width ?? 100,
    height: gi.height ?? 100,
    hidden: nodes.length - visible.length,
  };
}

/** Above this many visible nodes dagre's layout costs more than the comparison; a linear-time layering is used. */
const DAGRE_MAX = 300;

/**
 * Linear-time layered layout for big graphs: rank = longest path from the inputs, nodes of a rank
 * side by side in execution order, straight edges. Readable for the chain-like graphs networks are.
 */
function layeredLayout(
  visible: GraphNodeFacts[],
  sources: (name: string) => string[],
  srcName: (ref: string) => string,
  hidden: number,
  scope: string,
): LaidOutGraph {
  const rank = new Map<string, number>();
  const W = 200;
  const H = 34;
  for (const n of visible) {
    let r = 0;
    for (const ref of n.inputs) {
      if (ref.startsWith('^')) continue;
      for (const s of sources(srcName(ref))) if (s !== n.name && rank.has(s)) r = Math.max(r, rank.get(s)! + 1);
    }
    rank.set(n.name, r);
  }
  const rows = new Map<number, GraphNodeFacts[]>();
  for (const n of visible) rows.set(rank.get(n.name)!, [...(rows.get(rank.get(n.name)!) ?? []), n]);
  const widest = Math.max(1, ...[...rows.values()].map((r) => r.length));
  const pos = new Map<string, { x: number; y: number }>();
  for (const [r, row] of rows) {
    const off = ((widest - row.length) * (W + 20)) / 2;
    row.forEach((n, i) => pos.set(n.name, { x: 20 + off + i * (W + 20) + W / 2, y: 20 + r * (H + 30) + H / 2 }));
  }
  const edges: LaidOutGraph['edges'] = [];
  for (const n of visible) {
    const p = pos.get(n.name)!;
    for (const ref of n.inputs) {
      if (ref.startsWith('^')) continue;
      for (const s of sources(srcName(ref))) {
        const q = pos.get(s);
        if (q && s !== n.name) edges.push({ from: s, to: n.name, points: [[q.x, q.y + H / 2], [p.x, p.y - H / 2]] });
      }
    }
  }
  return {
    nodes: visible.map((n) => ({ name: n.name, label: nodeLabel(n.name, scope), op: n.op, ...pos.get(n.name)!, w: W, h: H, status: n.status, ...(n.pair !== undefined ? { pair: n.pair } : {}) })),
    edges,
    width: 40 + widest * (W + 20),
    height: 40 + rows.size * (H + 30),
    hidden,
  };
}

/** JSON safe to embed in a <script> element: no `</script>`, no HTML comment openers. */
export function scriptJson(v: unknown): string {
  return JSON.stringify(v, (_k, x: unknown) => (typeof x === 'number' && !Number.isFinite(x) ? (Number.isNaN(x) ? 'NaN' : x > 0 ? 'Infinity' : '-Infinity') : x))
    .replace(/</g, '\\u003c')
    .replace(/>/g, '\\u003e')
    .replace(/&/g, '\\u0026')
    .replace(/\u2028/g, '\\u2028')
    .replace(/\u2029/g, '\\u2029');
}

/** Text escaping for the few strings the server writes into markup itself. */
export function esc(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/'/g, '&#39;');
}

export function htmlReport(r: Result): string {
  const scopes = {
    reference: commonScope([...r.graph.map((n) => n.name), ...r.pairs.map((p) => p.reference)]),
    candidate: commonScope([...r.pairs.map((p) => p.candidate), ...r.unmatched.candidate]),
  };
  const layout = layoutGraph(r.graph, undefined, scopes.reference);
  // What would have made each failing pair pass, in the words the console report uses (one wouldPass).
  const wouldPassText = Object.fromEntries(r.pairs.filter((p) => !p.pass).map((p) => [p.index, wouldPass(p.metrics, p.tolerance)]));
  const data = { result: r, layout, scopes, wouldPass: wouldPassText };
  const title = `tf-parity: ${r.verdict}`;
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src data:">
<title>${esc(title)}</title>
<style>${CSS}</style></head>
<body>
<header id="banner" class="${esc(r.verdict)}"><h1 id="verdict"></h1><p id="summary"></p></header>
<main>
<section id="why-section"><h2>Why</h2><div id="why"></div></section>
<section><h2>Run</h2><table id="facts" class="facts"></table></section>
<section id="divergence-section"><h2>First divergence</h2><div id="divergence"></div></section>
<section><h2>Graph <small>(reference; colour = error, click a node)</small></h2>
<div class="legend"><span class="pass">pass</span><span class="fail">fail</span><span class="unmatched">unmatched</span><span class="not-compared">not compared</span><span class="first">first divergence</span>
<button id="zoom-in" type="button">+</button><button id="zoom-out" type="button">−</button><button id="zoom-fit" type="button">fit</button><button id="zoom-first" type="button">go to first divergence</button></div>
<div id="graph-wrap"><svg id="graph" xmlns="http://www.w3.org/2000/svg"><g id="viewport"></g></svg><aside id="details"><p class="hint">Click a node or a table row.</p></aside></div>
</section>
<section><h2>Error along execution order <small>(max_abs of each pair, log scale)</small></h2><svg id="curve" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 1300 380"></svg></section>
<section><h2>Pairs</h2><input id="filter" type="search" placeholder="filter by name, op or status"> <label><input id="only-fail" type="checkbox"> failing only</label>
<table id="pairs" class="pairs"><thead><tr></tr></thead><tbody></tbody></table></section>
<section><h2>Unmatched</h2><div id="unmatched"></div></section>
</main>
<script type="application/json" id="data">${scriptJson(data)}</script>
<script>${SCRIPT}</script>
</body></html>
`;
}

const CSS = `
body{font:14px/1.4 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:0;color:#1d232a;background:#f6f7f9}
header{padding:14px 24px;color:#fff}header h1{margin:0;font-size:22px}header p{margin:4px 0 0}
#why li.fail{color:#b3261e}.unsure{color:#8a6100}.shapes-part{font-weight:600}h3{font-size:14px;margin:8px 0 4px}
header.equivalent{background:#1f7a3a}header.not-equivalent{background:#b3261e}header.error{background:#8a6100}
main{padding:8px 24px 40px}section{background:#fff;border:1px solid #dde1e6;border-radius:6px;padding:10px 14px;margin:12px 0}
h2{font-size:16px;margin:2px 0 8px}table{border-collapse:collapse;width:100%}td,th{padding:3px 8px;border-bottom:1px solid #eceef1;text-align:left;vertical-align:top}
.facts td{white-space:pre-line}.facts td:first-child{color:#5b6570;width:180px}.pairs th{cursor:pointer;user-select:none;background:#f0f2f5;position:sticky;top:0}
.pairs tr.fail td:first-child{color:#b3261e;font-weight:600}.pairs tr.pass td:first-child{color:#1f7a3a}.pairs tr.selected{background:#fff6d6}
.pairs tbody tr{cursor:pointer}.num{font-variant-numeric:tabular-nums;white-space:nowrap}
.pairs{font-size:12.5px}.pairs td,.pairs th{padding:3px 5px}.pairs td.name{overflow-wrap:anywhere;min-width:110px}.scope{color:#5b6570;font-size:12px}
#curve{width:100%;height:auto;display:block}
#graph-wrap{display:flex;gap:10px;height:560px}#graph{flex:1;border:1px solid #dde1e6;border-radius:4px;background:#fbfcfd;cursor:grab;height:100%}
#details{width:400px;overflow:auto;border-left:1px solid #eceef1;padding-left:10px;font-size:13px}#details h3{margin:4px 0;overflow-wrap:anywhere}
#details p{overflow-wrap:anywhere}#details table{table-layout:fixed}#details td{white-space:normal;overflow-wrap:anywhere}#details td:first-child{width:112px;color:#5b6570}
.node rect{stroke:#6b7682;stroke-width:1;rx:4}.node text{font-size:11px;pointer-events:none}.node{cursor:pointer}
.node.pass rect{fill:#d7f0dd}.node.fail rect{fill:#f8d0cc}.node.unmatched rect{fill:#fff0c2}.node.not-compared rect{fill:#eef0f3}
.node.first rect{stroke:#b3261e;stroke-width:4}.node.selected rect{stroke:#1a5fb4;stroke-width:3}
.edge{fill:none;stroke:#9aa3ad;stroke-width:1}
.legend span{display:inline-block;padding:1px 8px;margin-right:6px;border-radius:3px;border:1px solid #aab}.legend .pass{background:#d7f0dd}.legend .fail{background:#f8d0cc}
.legend .unmatched{background:#fff0c2}.legend .not-compared{background:#eef0f3}.legend .first{border:3px solid #b3261e}.legend button{margin-left:4px}
.bar{fill:#5b8def}.hist text,.curve text{font-size:10px;fill:#5b6570}.curve text.first{fill:#b3261e;font-weight:600}.hint{color:#6b7682}code{font-size:12px;word-break:break-all}
#filter{width:320px;padding:4px}
`;

// The page script. Plain ES2017, no dependencies, DOM built with textContent/setAttribute only.
const SCRIPT = String.raw`
(function(){
'use strict';
var D = JSON.parse(document.getElementById('data').textContent);
var R = D.result, L = D.layout, S = D.scopes, SVGNS = 'http://www.w3.org/2000/svg';
// Names without the scope most of a model's names share (shown once, in the Run facts).
function unscoped(name, scope){ return scope && name.indexOf(scope) === 0 && name.length > scope.length ? name.slice(scope.length) : name; }
function rn(name){ return unscoped(name, S.reference); }
function cn(name){ return unscoped(name, S.candidate); }
function cut(s, max){ if (s.length <= max) return s; var h = Math.ceil((max - 1) / 2); return s.slice(0, h) + '…' + s.slice(s.length - (max - 1 - h)); }
function el(tag, attrs, text){ var e = document.createElement(tag); if (attrs) for (var k in attrs) e.setAttribute(k, attrs[k]); if (text !== undefined) e.textContent = text; return e; }
function sel(tag, attrs){ var e = document.createElementNS(SVGNS, tag); if (attrs) for (var k in attrs) e.setAttribute(k, attrs[k]); return e; }
function num(x){ if (typeof x === 'string') return x; if (x === undefined || x === null) return '-'; if (x === 0) return '0'; var a = Math.abs(x); return (a >= 1e4 || a < 1e-2) ? x.toExponential(2) : String(Number(x.toPrecision(4))); }
function unpairedText(p){
  var ops = {}; R.graph.forEach(function(n){ ops[n.name] = n.op; });
  return 'between its inputs and it the reference computes ' + p.unpairedBefore.map(function(n){ return n + ' (' + (ops[n] || '?') + ')'; }).join(', ') + ', which no candidate layer pairs with: if the conversion lacks ' + (p.unpairedBefore.length > 1 ? 'them' : 'it') + ', that is the fault';
}
function val(x){ return typeof x === 'string' ? (x === 'Infinity' ? Infinity : x === '-Infinity' ? -Infinity : NaN) : x; }

document.getElementById('verdict').textContent = R.verdict === 'equivalent' ? 'Equivalent' : R.verdict === 'error' ? 'Error' : 'Not equivalent';
document.getElementById('summary').textContent = R.summary;
document.title = 'tf-parity: ' + R.verdict + ' - ' + R.candidate.path;

var facts = [
  ['Reference', R.reference.path + ' (' + R.reference.kind + ')'], ['Reference sha256', R.reference.sha256],
  ['Candidate', R.candidate.path + ' (' + R.candidate.kind + ')'], ['Candidate sha256', R.candidate.sha256],
  ['Seed / iterations', R.run.seed + ' / ' + R.run.iterations], ['Backend', R.run.backend + (R.run.fallbackKernels.length ? ' (cpu fallback: ' + R.run.fallbackKernels.join(', ') + ')' : '')],
  ['Tolerance', 'atol ' + R.run.tolerance.atol + ', rtol ' + R.run.tolerance.rtol + (Object.keys(R.run.perTensor).length ? '; per tensor: ' + Object.keys(R.run.perTensor).map(function(k){ return k + ' atol ' + R.run.perTensor[k].atol + ' rtol ' + R.run.perTensor[k].rtol; }).join('; ') : '')],
  ['Checks', R.run.checks.join(' ') || '-'],
  ['Inputs', R.inputs.map(function(i){ return i.name + ' ' + i.dtype + '[' + i.shape.join(',') + '] ' + i.source + (i.candidatePerm ? ' (transposed ' + i.candidatePerm.join(',') + ' for the candidate)' : ''); }).join('; ')],
  ['Timings', 'reference ' + Math.round(R.run.timings.referenceMs) + ' ms, candidate ' + Math.round(R.run.timings.candidateMs) + ' ms, compare ' + Math.round(R.run.timings.compareMs) + ' ms, own error ' + Math.round(R.run.timings.ownErrorMs) + ' ms, total ' + Math.round(R.run.timings.totalMs) + ' ms'],
  ['Tool', R.tool.name + ' ' + R.tool.version + ', started ' + R.run.startedAt],
  ['Names', (S.reference ? 'reference names below leave out their common scope ' + S.reference : 'reference names in full') + (S.candidate ? '; candidate names leave out ' + S.candidate : '')],
  ['Pairs', R.pairs.length + ' compared, ' + R.pairs.filter(function(p){ return !p.pass; }).length + ' failing; unmatched ' + R.unmatched.reference.length + ' reference / ' + R.unmatched.candidate.length + ' candidate']
];
// What a runner does differently from the model as saved, under that model's rows.
function warnRow(label, w, after) { if (w && w.length) facts.splice(facts.findIndex(function(f){ return f[0] === after; }) + 1, 0, [label, w.join('\n')]); }
warnRow('Reference warnings', R.reference.warnings, 'Reference sha256');
warnRow('Candidate warnings', R.candidate.warnings, 'Candidate sha256');
var ft = document.getElementById('facts');
facts.forEach(function(f){ var tr = el('tr'); tr.appendChild(el('td', null, f[0])); tr.appendChild(el('td', null, f[1])); ft.appendChild(tr); });

var div = document.getElementById('divergence');
if (R.firstDivergence === undefined) { div.appendChild(el('p', null, R.verdict === 'equivalent' ? 'No compared pair fails.' : 'No layer-level divergence found.')); }
else { var fp = R.pairs[R.firstDivergence]; var p1 = el('p'); p1.appendChild(el('strong', {title: fp.reference}, rn(fp.reference))); p1.appendChild(document.createTextNode(' (' + fp.referenceOp + ')  ~  ')); p1.appendChild(el('strong', {title: fp.candidate}, cn(fp.candidate))); p1.appendChild(document.createTextNode(' (' + fp.candidateType + '): max_abs ' + num(fp.metrics.max_abs) + ', cosine ' + num(fp.metrics.cosine) + (fp.own ? ', own error ' + num(fp.own.metrics.max_abs) + (fp.ownDiscounted ? ' (not the layer alone)' : fp.own.pass ? ' (inherited)' : ' (its own)') : ''))); div.appendChild(p1);
  if (fp.unpairedBefore) div.appendChild(el('p', null, unpairedText(fp)));
  if (R.rootCause !== undefined && R.rootCause !== R.firstDivergence) { var rc = R.pairs[R.rootCause]; div.appendChild(el('p', null, 'Root cause (first pair whose own error fails): ' + rn(rc.reference) + ' ~ ' + cn(rc.candidate))); if (rc.unpairedBefore) div.appendChild(el('p', null, unpairedText(rc))); } }

// ---- why the verdict is what it is, outputs in no pair, where the shapes part, unsure pairs
(function(){
  var w = document.getElementById('why');
  var ul = el('ul'); (R.why || []).forEach(function(t){ ul.appendChild(el('li', null, t)); }); w.appendChild(ul);
  var unp = (R.outputs || []).filter(function(o){ return o.unpaired; });
  if (unp.length) { var uo = el('ul', {'class': 'unpaired-outputs'}); unp.forEach(function(o){ uo.appendChild(el('li', o.excused ? null : {'class': 'fail'}, (o.excused ? 'not counted: ' : 'in no pair: ') + 'the ' + o.side + "'s output " + o.name + ' [' + o.shape.join(',') + '] ' + o.dtype + ': ' + o.unpaired)); }); w.appendChild(el('h3', null, 'Outputs in no pair')); w.appendChild(uo); }
  if (R.shapesPart) div.insertBefore(el('p', {'class': 'shapes-part'}, (R.shapesPart.isRootCause ? 'Root cause: ' : 'Past the first divergence: ') + R.shapesPart.text), div.firstChild);
  function sure(p){ return p.unsure ? 'the alignment is unsure of this pair: ' + p.unsure.reason + (p.unsure.candidates.length > 1 ? '; it hesitated between ' + p.unsure.candidates.join(', ') : '') : p.hesitatedWith && p.hesitatedWith.length ? 'paired by shape alone (confidence ' + p.confidence.toFixed(2) + '); also of its size: ' + p.hesitatedWith.join(', ') : null; }
  [R.firstDivergence, R.rootCause].forEach(function(i, k){ if (i === undefined || (k === 1 && i === R.firstDivergence)) return; var p = R.pairs[i]; var t = sure(p); if (t) div.appendChild(el('p', {'class': 'unsure'}, t)); if (p.ownDiscounted) div.appendChild(el('p', {'class': 'unsure'}, 'own error not claimed: ' + p.ownDiscounted)); });
  var us = R.pairs.filter(function(p){ return p.unsure && !p.pass; });
  if (us.length) { w.appendChild(el('h3', null, 'Failing pairs the alignment is unsure of (not judged)')); var ul2 = el('ul'); us.forEach(function(p){ ul2.appendChild(el('li', {'class': 'unsure'}, p.reference + ' ~ ' + p.candidate + ' [' + p.strategy + ', confidence ' + p.confidence.toFixed(2) + ']: ' + sure(p))); }); w.appendChild(ul2); }
})();

// ---- graph
var svg = document.getElementById('graph'), vp = document.getElementById('viewport');
var nodeEls = {}, firstName = null;
if (R.firstDivergence !== undefined) firstName = R.pairs[R.firstDivergence].reference;
L.edges.forEach(function(e){ if (!e.points.length) return; var d = 'M' + e.points.map(function(p){ return p[0] + ',' + p[1]; }).join('L'); vp.appendChild(sel('path', {'class': 'edge', d: d})); });
L.nodes.forEach(function(n){
  var g = sel('g', {'class': 'node ' + n.status + (n.name === firstName ? ' first' : ''), transform: 'translate(' + (n.x - n.w / 2) + ',' + (n.y - n.h / 2) + ')', 'data-name': n.name});
  g.appendChild(sel('rect', {width: n.w, height: n.h}));
  var t1 = sel('text', {x: 5, y: 13}); t1.textContent = n.label; g.appendChild(t1);
  var t2 = sel('text', {x: 5, y: 27, fill: '#5b6570'}); t2.textContent = n.op; g.appendChild(t2);
  var tip = sel('title'); tip.textContent = n.name + ' (' + n.op + ')'; g.appendChild(tip);
  g.addEventListener('click', function(ev){ ev.stopPropagation(); select(n.name); });
  vp.appendChild(g); nodeEls[n.name] = g;
});
var view = {x: 0, y: 0, k: 1};
function apply(){ vp.setAttribute('transform', 'translate(' + view.x + ',' + view.y + ') scale(' + view.k + ')'); }
function fit(){ var w = svg.clientWidth || 800, h = svg.clientHeight || 560; view.k = Math.min(w / (L.width + 40), h / (L.height + 40), 1.5); view.x = (w - L.width * view.k) / 2; view.y = 10; apply(); }
function center(name){ var n = L.nodes.filter(function(m){ return m.name === name; })[0]; if (!n) return; var w = svg.clientWidth || 800, h = svg.clientHeight || 560; view.k = Math.max(view.k, 0.8); view.x = w / 2 - n.x * view.k; view.y = h / 2 - n.y * view.k; apply(); }
function zoom(f, cx, cy){ var w = svg.clientWidth || 800, h = svg.clientHeight || 560; cx = cx === undefined ? w / 2 : cx; cy = cy === undefined ? h / 2 : cy; view.x = cx - (cx - view.x) * f; view.y = cy - (cy - view.y) * f; view.k *= f; apply(); }
svg.addEventListener('wheel', function(ev){ ev.preventDefault(); var r = svg.getBoundingClientRect(); zoom(ev.deltaY < 0 ? 1.15 : 1 / 1.15, ev.clientX - r.left, ev.clientY - r.top); }, {passive: false});
var drag = null;
svg.addEventListener('mousedown', function(ev){ drag = {x: ev.clientX, y: ev.clientY, vx: view.x, vy: view.y}; });
window.addEventListener('mousemove', function(ev){ if (!drag) return; view.x = drag.vx + ev.clientX - drag.x; view.y = drag.vy + ev.clientY - drag.y; apply(); });
window.addEventListener('mouseup', function(){ drag = null; });
document.getElementById('zoom-in').onclick = function(){ zoom(1.3); };
document.getElementById('zoom-out').onclick = function(){ zoom(1 / 1.3); };
document.getElementById('zoom-fit').onclick = fit;
document.getElementById('zoom-first').onclick = function(){ if (firstName) { center(firstName); select(firstName); } };
fit();
if (firstName) center(firstName);

// ---- details
var details = document.getElementById('details');
var graphByName = {}; R.graph.forEach(function(n){ graphByName[n.name] = n; });
function kv(tbl, k, v){ var tr = el('tr'); tr.appendChild(el('td', null, k)); tr.appendChild(el('td', {'class': 'num'}, v)); tbl.appendChild(tr); }
function histogram(h){
  var s = sel('svg', {'class': 'hist', width: 360, height: 120, viewBox: '0 0 360 120'});
  var bins = [['0', h.zero]].concat(h.decades.map(function(d, i){ return ['1e' + d, h.counts[i]]; })).concat([['nan/inf', h.nonfinite]]);
  var max = Math.max.apply(null, bins.map(function(b){ return b[1]; }).concat([1]));
  var bw = 360 / bins.length;
  bins.forEach(function(b, i){ var bh = b[1] ? Math.max(1, 90 * Math.log(1 + b[1]) / Math.log(1 + max)) : 0; s.appendChild(sel('rect', {'class': 'bar', x: i * bw + 1, y: 95 - bh, width: bw - 2, height: bh}));
    if (i % 3 === 0) { var t = sel('text', {x: i * bw, y: 110}); t.textContent = b[0]; s.appendChild(t); } var tt = sel('title'); tt.textContent = b[0] + ': ' + b[1]; s.lastChild.appendChild(tt); });
  return s;
}
function select(name){
  Object.keys(nodeEls).forEach(function(k){ nodeEls[k].classList.remove('selected'); });
  if (nodeEls[name]) nodeEls[name].classList.add('selected');
  while (details.firstChild) details.removeChild(details.firstChild);
  var g = graphByName[name];
  details.appendChild(el('h3', {title: name}, rn(name)));
  if (rn(name) !== name) details.appendChild(el('p', {'class': 'scope'}, name));
  details.appendChild(el('p', null, (g ? g.op : '') + ' · ' + (g ? g.status : 'unknown')));
  var pair = g && g.pair !== undefined ? R.pairs[g.pair] : R.pairs.filter(function(p){ return p.reference === name || p.candidate === name; })[0];
  if (g && g.inputs.length) details.appendChild(el('p', null, 'inputs: ' + g.inputs.map(rn).join(', ')));
  if (!pair) { details.appendChild(el('p', {'class': 'hint'}, 'Not compared with a candidate layer.')); return; }
  Array.prototype.forEach.call(document.querySelectorAll('#pairs tbody tr'), function(tr){ tr.classList.toggle('selected', tr.getAttribute('data-index') === String(pair.index)); });
  var t = el('table');
  kv(t, 'candidate', cn(pair.candidate) + ' (' + pair.candidateType + ')'); kv(t, 'pairing', pair.strategy + ', confidence ' + num(pair.confidence) + (pair.transform && pair.transform.perm ? ', transpose ' + pair.transform.perm.join(',') : ''));
  kv(t, 'verdict', pair.pass ? 'pass' : 'FAIL: ' + pair.failed.join(', '));
  kv(t, 'shapes', '[' + pair.referenceShape.join(',') + '] vs [' + pair.candidateShape.join(',') + ']');
  ['max_abs', 'max_rel', 'mean_abs', 'rmse', 'cosine', 'sqnr', 'allclose', 'nan_mismatch', 'inf_mismatch', 'topk_agree'].forEach(function(m){ if (pair.metrics[m] !== undefined) kv(t, m, num(pair.metrics[m])); });
  if (!pair.pass) kv(t, 'would pass with', D.wouldPass[pair.index]);
  if (pair.own) kv(t, 'own error', 'max_abs ' + num(pair.own.metrics.max_abs) + ' (' + (pair.own.pass ? 'passes: inherited' : 'fails: its own') + ')');
  else if (pair.ownSkipped) kv(t, 'own error', 'not computed: ' + pair.ownSkipped);
  kv(t, 'reference range', num(pair.referenceStats.min) + ' .. ' + num(pair.referenceStats.max) + ' (mean ' + num(pair.referenceStats.mean) + ')');
  kv(t, 'candidate range', num(pair.candidateStats.min) + ' .. ' + num(pair.candidateStats.max) + ' (mean ' + num(pair.candidateStats.mean) + ')');
  details.appendChild(t);
  details.appendChild(el('h4', null, '|error| histogram (log count)'));
  details.appendChild(histogram(pair.histogram));
  if (pair.worst.length) { details.appendChild(el('h4', null, 'Worst elements'));
    var wt = el('table'); var hr = el('tr'); ['index', 'reference', 'candidate', '|diff|'].forEach(function(h){ hr.appendChild(el('th', null, h)); }); wt.appendChild(hr);
    pair.worst.forEach(function(w){ var tr = el('tr'); [ '[' + w.index.join(',') + ']', num(w.reference), num(w.candidate), num(w.abs)].forEach(function(c){ tr.appendChild(el('td', {'class': 'num'}, c)); }); wt.appendChild(tr); });
    details.appendChild(wt); }
}

// ---- error curve
(function(){
  var c = document.getElementById('curve'), W = 1300, H = 380, pad = 48, bottom = 130;
  if (!R.pairs.length) return;
  var ys = R.pairs.map(function(p){ var v = val(p.metrics.max_abs); return Math.log10(Math.max(v, 1e-12)); });
  var thr = Math.log10(Math.max(R.run.tolerance.atol, 1e-12));
  var lo = Math.min.apply(null, ys.concat([thr])) - 0.5, hi = Math.max.apply(null, ys.concat([thr])) + 0.5;
  var left = 150; // room for the first slanted layer name
  function X(i){ return left + (W - left - pad) * (R.pairs.length === 1 ? 0.5 : i / (R.pairs.length - 1)); }
  function Y(v){ return H - bottom + (pad + bottom - H) * (Math.min(Math.max(v, lo), hi) - lo) / (hi - lo); }
  // The x-axis names the layers (without the common scope), slanted; with many pairs every k-th.
  var every = Math.max(1, Math.ceil(R.pairs.length / 70));
  c.appendChild(sel('line', {x1: left, x2: W - pad, y1: H - bottom + 4, y2: H - bottom + 4, stroke: '#9aa3ad'}));
  R.pairs.forEach(function(p, i){ if (i % every && p.index !== R.firstDivergence) return; var x = X(i), y = H - bottom + 10;
    var t = sel('text', {x: x, y: y, transform: 'rotate(-40 ' + x + ' ' + y + ')', 'text-anchor': 'end', 'class': 'xlabel' + (p.index === R.firstDivergence ? ' first' : '')}); t.textContent = cut(rn(p.reference), 30);
    var tt = sel('title'); tt.textContent = p.reference; t.appendChild(tt); c.appendChild(t); });
  for (var e = Math.ceil(lo); e <= hi; e++) { var t = sel('text', {x: left - 34, y: Y(e) + 3}); t.textContent = '1e' + e; c.appendChild(t); c.appendChild(sel('line', {x1: left, x2: W - pad, y1: Y(e), y2: Y(e), stroke: '#eceef1'})); }
  c.appendChild(sel('line', {x1: left, x2: W - pad, y1: Y(thr), y2: Y(thr), stroke: '#b3261e', 'stroke-dasharray': '5,4'}));
  var tl = sel('text', {x: W - pad - 60, y: Y(thr) - 4, fill: '#b3261e'}); tl.textContent = 'atol'; c.appendChild(tl);
  c.appendChild(sel('path', {d: 'M' + ys.map(function(y, i){ return X(i) + ',' + Y(y); }).join('L'), fill: 'none', stroke: '#1a5fb4', 'stroke-width': 1.5}));
  R.pairs.forEach(function(p, i){ var dot = sel('circle', {cx: X(i), cy: Y(ys[i]), r: p.index === R.firstDivergence ? 6 : 2.5, fill: p.pass ? '#1f7a3a' : '#b3261e', 'class': p.index === R.firstDivergence ? 'first-mark' : ''});
    var tt = sel('title'); tt.textContent = p.reference + ' ~ ' + p.candidate + ': max_abs ' + num(p.metrics.max_abs); dot.appendChild(tt); dot.addEventListener('click', function(){ select(p.reference); center(p.reference); }); c.appendChild(dot); });
  c.classList.add('curve');
})();

// ---- table
var cols = [['status', function(p){ return p.pass ? 'pass' : 'FAIL'; }], ['#', function(p){ return p.index; }], ['reference', function(p){ return rn(p.reference); }, 'name', function(p){ return p.reference; }], ['op', function(p){ return p.referenceOp; }],
  ['candidate', function(p){ return cn(p.candidate); }, 'name', function(p){ return p.candidate; }], ['layer type', function(p){ return p.candidateType; }], ['shape', function(p){ return '[' + p.referenceShape.join(',') + ']'; }],
  ['max_abs', function(p){ return val(p.metrics.max_abs); }], ['max_rel', function(p){ return val(p.metrics.max_rel); }], ['cosine', function(p){ return val(p.metrics.cosine); }],
  ['sqnr', function(p){ return val(p.metrics.sqnr); }], ['allclose', function(p){ return p.metrics.allclose; }], ['own max_abs', function(p){ return p.own ? val(p.own.metrics.max_abs) : undefined; }], ['pairing', function(p){ return p.strategy; }]];
var thead = document.querySelector('#pairs thead tr'), tbody = document.querySelector('#pairs tbody');
var sortCol = 1, sortDir = 1;
cols.forEach(function(c, i){ var th = el('th', null, c[0]); th.addEventListener('click', function(){ sortDir = sortCol === i ? -sortDir : 1; sortCol = i; render(); }); thead.appendChild(th); });
function render(){
  var q = document.getElementById('filter').value.toLowerCase(), onlyFail = document.getElementById('only-fail').checked;
  var rows = R.pairs.filter(function(p){ return (!onlyFail || !p.pass) && (!q || (p.reference + ' ' + p.candidate + ' ' + p.referenceOp + ' ' + p.candidateType + ' ' + (p.pass ? 'pass' : 'fail')).toLowerCase().indexOf(q) >= 0); });
  rows.sort(function(a, b){ var x = cols[sortCol][1](a), y = cols[sortCol][1](b); if (x === y) return 0; if (x === undefined) return 1; if (y === undefined) return -1; return (x < y ? -1 : 1) * sortDir; });
  while (tbody.firstChild) tbody.removeChild(tbody.firstChild);
  rows.forEach(function(p){ var tr = el('tr', {'class': p.pass ? 'pass' : 'fail', 'data-index': String(p.index)});
    cols.forEach(function(c){ var v = c[1](p); var a = typeof v === 'number' ? {'class': 'num'} : c[2] ? {'class': c[2], title: c[3](p)} : null; tr.appendChild(el('td', a, typeof v === 'number' ? num(v) : v === undefined ? '-' : String(v))); });
    tr.addEventListener('click', function(){ select(p.reference); center(p.reference); }); tbody.appendChild(tr); });
}
document.getElementById('filter').addEventListener('input', render);
document.getElementById('only-fail').addEventListener('change', render);
render();

var um = document.getElementById('unmatched');
[['reference', R.unmatched.reference.map(rn)], ['candidate', R.unmatched.candidate.map(cn)]].forEach(function(u){ var p = el('p'); p.appendChild(el('strong', null, u[0] + ' (' + u[1].length + '): ')); p.appendChild(document.createTextNode(u[1].slice(0, 200).join(', ') + (u[1].length > 200 ? ', …' : ''))); um.appendChild(p); });
if (L.hidden) um.appendChild(el('p', {'class': 'hint'}, L.hidden + ' constant/plumbing nodes are hidden in the graph view.'));
if (firstName) select(firstName);
})();
`;
