import { xml } from '../src/report/junit.js';
import { esc, scriptJson } from '../src/report/html.js';
import type { SuiteResult } from './suite.js';

/** JUnit for a suite: one testcase per case; fail -> <failure>, error/interrupted -> <error>. */
export function suiteJunit(r: SuiteResult): string {
  const cases = r.cases.map((c) => {
    const head = `    <testcase classname="tf-parity.${xml(r.suite)}" name="${xml(c.name)}" file="${xml(c.file)}" time="${(c.durationMs / 1000).toFixed(3)}">`;
    if (c.status === 'pass') return `${head}</testcase>`;
    if (c.status === 'fail') return `${head}\n      <failure message="${xml(c.message)}" type="NotAsExpected">${xml(`${c.message}${c.firstDivergence ? `\nfirst divergence: ${c.firstDivergence}` : ''}`)}</failure>\n    </testcase>`;
    return `${head}\n      <error message="${xml(c.message)}" type="${c.status}"/>\n    </testcase>`;
  });
  const failures = r.counts.fail;
  const errors = r.counts.error + r.counts.interrupted;
  const time = r.cases.reduce((s, c) => s + c.durationMs, 0) / 1000;
  return (
    `<?xml version="1.0" encoding="UTF-8"?>\n<testsuites name="tf-parity" tests="${r.cases.length}" failures="${failures}" errors="${errors}" time="${time.toFixed(3)}">\n` +
    `  <testsuite name="${xml(r.suite)}" tests="${r.cases.length}" failures="${failures}" errors="${errors}" time="${time.toFixed(3)}">\n${cases.join('\n')}\n  </testsuite>\n</testsuites>\n`
  );
}

/** The suite's combined HTML index: per-case verdicts, links to case reports, trends over past runs. */
export function suiteHtml(r: SuiteResult): string {
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>${esc(`tf-parity suite: ${r.suite}`)}</title>
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'">
<style>
body{font:14px/1.4 system-ui,sans-serif;margin:0;color:#1d232a;background:#f6f7f9}header{padding:14px 24px;color:#fff;background:#1f7a3a}header.bad{background:#b3261e}
main{padding:10px 24px}table{border-collapse:collapse;width:100%;background:#fff}td,th{padding:4px 8px;border-bottom:1px solid #eceef1;text-align:left}
.pass{color:#1f7a3a;font-weight:600}.fail,.error,.interrupted{color:#b3261e;font-weight:600}.regression{color:#b3261e}.improvement{color:#1f7a3a}.warnings{color:#8a5a00;font-size:12px}svg{vertical-align:middle}
</style></head><body><header id="h"><h1 id="title"></h1><p id="counts"></p></header><main><table id="cases"><thead><tr>
<th>status</th><th>case</th><th>expected</th><th>verdict</th><th>max_abs</th><th>cosine</th><th>trend</th><th>message</th><th>time</th></tr></thead><tbody></tbody></table></main>
<script type="application/json" id="data">${scriptJson(r)}</script>
<script>
(function(){
var R = JSON.parse(document.getElementById('data').textContent);
function el(t, a, x){ var e = document.createElement(t); if (a) for (var k in a) e.setAttribute(k, a[k]); if (x !== undefined) e.textContent = x; return e; }
function num(x){ if (x === undefined || x === null) return '-'; if (typeof x === 'string') return x; if (x === 0) return '0'; var a = Math.abs(x); return (a >= 1e4 || a < 1e-2) ? x.toExponential(2) : String(Number(x.toPrecision(4))); }
var bad = R.counts.fail + R.counts.error + R.counts.interrupted > 0;
document.getElementById('h').className = bad ? 'bad' : '';
document.getElementById('title').textContent = 'tf-parity suite: ' + R.suite + (R.shard ? ' (shard ' + R.shard.index + '/' + R.shard.count + ')' : '');
document.getElementById('counts').textContent = R.cases.length + ' cases: ' + R.counts.pass + ' pass, ' + R.counts.fail + ' fail, ' + R.counts.error + ' error' + (R.counts.interrupted ? ', ' + R.counts.interrupted + ' interrupted' : '') + ' · ' + R.startedAt + (R.interrupted ? ' · INTERRUPTED' : '');
var trends = {}; (R.trends || []).forEach(function(t){ trends[t.case] = t; });
function spark(t){
  var s = document.createElementNS('http://www.w3.org/2000/svg', 'svg'); s.setAttribute('width', '90'); s.setAttribute('height', '20');
  var ys = t.series.map(function(v){ return typeof v === 'number' && isFinite(v) && v > 0 ? Math.log10(v) : -12; });
  var lo = Math.min.apply(null, ys), hi = Math.max.apply(null, ys); if (hi - lo < 1e-9) { hi += 1; lo -= 1; }
  var pts = ys.map(function(y, i){ return (ys.length === 1 ? 45 : 4 + 82 * i / (ys.length - 1)) + ',' + (17 - 14 * (y - lo) / (hi - lo)); }).join(' ');
  var p = document.createElementNS('http://www.w3.org/2000/svg', 'polyline'); p.setAttribute('points', pts); p.setAttribute('fill', 'none'); p.setAttribute('stroke', t.flag === 'regression' ? '#b3261e' : '#1a5fb4'); s.appendChild(p);
  var tt = document.createElementNS('http://www.w3.org/2000/svg', 'title'); tt.textContent = 'max_abs over runs: ' + t.series.map(num).join(', '); s.appendChild(tt); return s;
}
var tb = document.querySelector('#cases tbody');
R.cases.forEach(function(c){
  var tr = el('tr'); tr.appendChild(el('td', {'class': c.status}, c.status));
  var td = el('td'); if (c.reportDir) { var a = el('a', {href: c.reportDir + '/report.html'}, c.name); td.appendChild(a); } else td.textContent = c.name; td.appendChild(el('div', {style: 'color:#6b7682;font-size:12px'}, c.file)); tr.appendChild(td);
  tr.appendChild(el('td', null, c.expected)); tr.appendChild(el('td', null, c.verdict || '-'));
  tr.appendChild(el('td', null, c.metrics ? num(c.metrics.max_abs) : '-')); tr.appendChild(el('td', null, c.metrics ? num(c.metrics.cosine) : '-'));
  var tt = el('td'); var t = trends[c.file]; if (t) { tt.appendChild(spark(t)); tt.appendChild(el('span', {'class': t.flag}, ' ' + t.flag)); var why = (t.reason || '') + (t.changed && t.changed.length ? (t.reason ? '; ' : '') + t.changed.join(' and ') + ' changed since the last run' : ''); if (why) tt.title = why; if (t.changed && t.changed.length) tt.appendChild(el('span', {'class': 'changed'}, ' (' + t.changed.join(', ') + ' changed)')); } tr.appendChild(tt);
  var msg = el('td', null, c.message);
  // What a runner did differently from the saved model (dtype computed in float32, weights ignored).
  if (c.warnings && c.warnings.length) { var w = el('div', {'class': 'warnings'}, c.warnings.length + ' warning' + (c.warnings.length > 1 ? 's' : '') + ': ' + c.warnings.join('; ')); msg.appendChild(w); }
  tr.appendChild(msg); tr.appendChild(el('td', null, (c.durationMs / 1000).toFixed(1) + ' s'));
  tb.appendChild(tr);
});
})();
</script></body></html>
`;
}
