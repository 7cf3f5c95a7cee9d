import { existsSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';
import { cnnGraph } from '../../cases/gen/cnn.js';
import { kerasCnn } from '../../cases/gen/keras-cnn.js';
import { onnxPortOfGraph } from '../../cases/gen/onnx-port.js';
import { readTfjsGraphModel } from '../../src/formats/tfjs-graph.js';
import { encodeGraphDef } from '../../src/formats/graphdef-writer.js';
import { compare } from '../../src/index.js';
import { unpairedLine, wouldPass } from '../../src/report/console.js';
import { htmlReport } from '../../src/report/html.js';
import type { Graph } from '../../src/graph/ir.js';

/**
 * Opens a generated report of a failing comparison in headless Chromium (Debian's, driven by
 * playwright-core): the graph renders, the first divergent node is highlighted, clicking it shows
 * its details, and a node named with HTML markup shows as text without running anything.
 */
const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const EVIL = '<img src=x onerror="window.__pwned=1">';

function withEvilName(g: Graph): Graph {
  // Rename the first-divergent layer's last node; Keras layer 'dw1' no longer pairs by name,
  // so the markup-named node is paired numerically/by shape and shown everywhere.
  const map = (n: string) => (n === 'dw1/Relu6' ? `dw1/${EVIL}` : n);
  return { ...g, nodes: g.nodes.map((n) => ({ ...n, name: map(n.name), inputs: n.inputs.map(map) })), outputs: g.outputs.map(map) };
}

describe.skipIf(!existsSync(CHROMIUM))('HTML report in a browser', () => {
  it('renders the graph, highlights the first divergence, shows details on click, escapes markup', async () => {
    const d = mkdtempSync(join(tmpdir(), 'parity-html-'));
    writeFileSync(join(d, 'cnn.pb'), encodeGraphDef(withEvilName(cnnGraph())));
    writeFileSync(join(d, 'buggy.keras'), await kerasCnn(undefined, 'dw1-padding'));
    const result = await compare(join(d, 'cnn.pb'), join(d, 'buggy.keras'), { seed: 1, inputs: ['x=normal(0,1)'] });
    expect(result.verdict).toBe('not-equivalent');
    const fd = result.pairs[result.firstDivergence!]!;
    expect(fd.reference).toBe(`dw1/${EVIL}`);
    // A runner's warning, with markup in it: shown as text under the candidate's facts.
    result.candidate.warnings = ['<img src=x onerror="window.__pwned=1"> 2 weight(s) ignored', "dtype policy 'mixed_float16' is computed in float32 here"];
    // As when the conversion lacks a node the reference computes before the divergence.
    fd.unpairedBefore = ['conv1/Relu'];
    const file = join(d, 'report.html');
    writeFileSync(file, htmlReport(result));

    const { chromium } = await import('playwright-core');
    const browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--no-first-run', '--disable-sync'],
    });
    try {
      const page = await browser.newPage({ viewport: { width: 1400, height: 1100 } });
      const errors: string[] = [];
      page.on('console', (m) => {
        if (m.type() === 'error') errors.push(m.text());
      });
      page.on('pageerror', (e) => errors.push(String(e)));
      const requests: string[] = [];
      page.on('request', (r) => {
        if (!r.url().startsWith('file:') && !r.url().startsWith('data:')) requests.push(r.url());
      });
      await page.goto(pathToFileURL(file).href);
      await page.waitForSelector('#graph g.node');
      expect(await page.locator('#graph g.node').count()).toBeGreaterThan(5);
      expect(await page.locator('#graph path.edge').count()).toBeGreaterThan(5);
      const first = page.locator('#graph g.node.first');
      expect(await first.count()).toBe(1);
      expect(await first.getAttribute('data-name')).toBe(`dw1/${EVIL}`);
      expect(await page.locator('#verdict').textContent()).toBe('Not equivalent');
      expect(await page.locator('#divergence').textContent()).toContain(unpairedLine(result, fd)!);
      const warnRow = page.locator('#facts tr', { hasText: 'Candidate warnings' });
      expect(await warnRow.locator('td').nth(1).textContent()).toBe(result.candidate.warnings.join('\n'));
      // Right under the candidate's digest.
      expect(await page.locator('#facts tr:has-text("Candidate sha256") + tr td').first().textContent()).toBe('Candidate warnings');
      // Click a different node, then the first divergence again: details follow the click.
      await page.locator('#graph g.node[data-name="conv1/Relu"]').click();
      expect(await page.locator('#details h3').textContent()).toBe('conv1/Relu');
      // A passing pair has no tolerance that would make it pass.
      expect(await page.locator('#details').textContent()).not.toContain('would pass with');
      await first.click();
      expect(await page.locator('#details h3').textContent()).toBe(`dw1/${EVIL}`);
      expect(await page.locator('#details').textContent()).toContain('FAIL');
      // The page words the tolerance that would pass it as the console does.
      expect(await page.locator('#details').textContent()).toContain(wouldPass(fd, result.run.errorScale));
      expect(await page.locator('#details img').count()).toBe(0);
      // The layers paired with nothing, by name, as the console lists them (console.ts unmatchedLines).
      const um = await page.locator('#unmatched').textContent();
      expect(um).toContain(result.unmatched.reference.length || result.unmatched.candidate.length ? 'Paired with nothing, so not judged' : 'Every layer of both sides is in a pair.');
      for (const side of ['reference', 'candidate'] as const) if (result.unmatched[side].length) expect(um).toContain(`${side} (${result.unmatched[side].length}):`);
      expect(await page.locator('img').count()).toBe(0);
      expect(await page.evaluate(() => (window as unknown as { __pwned?: number }).__pwned)).toBeUndefined();
      // The table filters and sorts.
      await page.fill('#filter', 'dw1');
      expect(await page.locator('#pairs tbody tr').count()).toBeGreaterThanOrEqual(1);
      await page.fill('#filter', '');
      await page.locator('#pairs th', { hasText: /^max_abs$/ }).click();
      expect(await page.locator('#curve circle.first-mark').count()).toBe(1);
      mkdirSync(join(import.meta.dirname, '../../reports'), { recursive: true });
      await page.screenshot({ path: join(import.meta.dirname, '../../reports/report-screenshot.png'), fullPage: true });
      expect(errors).toEqual([]);
      expect(requests).toEqual([]);
    } finally {
      await browser.close();
    }
  }, 120_000);
  // A real model with long TF names (emotion of @vladmandic/human, every name under
  // StatefulPartitionedCall/model_1/) against an NCHW ONNX port with a kernel's H and W swapped.
  it('a real model with long TF names: the scope shown once, labels keep the distinctive part, the panel wraps, the table fits 1400 px, the chart names layers', async () => {
    const d = mkdtempSync(join(tmpdir(), 'parity-html-real-'));
    const model = join(dirname(createRequire(import.meta.url).resolve('@vladmandic/human')), '..', 'models', 'emotion.json');
    const port = join(d, 'emotion-port.onnx');
    writeFileSync(port, onnxPortOfGraph(await readTfjsGraphModel(model), 'kernel-hw'));
    const result = await compare(model, port, { seed: 1, shapes: { input_1: [1, 64, 64, 1] } });
    expect(result.verdict).toBe('not-equivalent');
    const SCOPE = 'StatefulPartitionedCall/model_1/';
    const fd = result.pairs[result.firstDivergence!]!;
    expect(fd.reference.startsWith(SCOPE)).toBe(true);
    const file = join(d, 'report.html');
    writeFileSync(file, htmlReport(result));

    const { chromium } = await import('playwright-core');
    const browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run'] });
    try {
      const page = await browser.newPage({ viewport: { width: 1400, height: 1100 } });
      const errors: string[] = [];
      page.on('pageerror', (e) => errors.push(String(e)));
      await page.goto(pathToFileURL(file).href);
      await page.waitForSelector('#graph g.node');
      // The scope once, in the facts.
      expect(await page.locator('#facts tr', { hasText: 'Names' }).locator('td').nth(1).textContent()).toContain(SCOPE);
      // Node labels: the name after the scope (block1_conv2_act/Relu), never cut from the left.
      const labels = await page.locator('#graph g.node text:nth-of-type(1)').allTextContents();
      expect(labels).toContain('block1_conv2_act/Relu');
      expect(labels.filter((l) => l.includes('StatefulPartitionedCall'))).toEqual([]);
      expect(labels.filter((l) => l.startsWith('…'))).toEqual([]);
      // The first divergence is selected: its panel names it without the scope, the full name under it,
      // and nothing in the panel is wider than the panel (it wraps).
      expect(await page.locator('#details h3').textContent()).toBe(fd.reference.slice(SCOPE.length));
      expect(await page.locator('#details p.scope').textContent()).toBe(fd.reference);
      const overflow = await page.evaluate(() => {
        const det = document.getElementById('details')!;
        return { scroll: det.scrollWidth, client: det.clientWidth };
      });
      expect(overflow.scroll).toBeLessThanOrEqual(overflow.client);
      expect(await page.locator('#details').textContent()).toContain('would pass with');
      // The pairs table fits the 1400 px window, its metric columns in view.
      expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(1400);
      for (const h of ['max_abs', 'cosine', 'own max_abs', 'pairing']) {
        const box = await page.locator('#pairs th', { hasText: new RegExp(`^${h}$`) }).boundingBox();
        expect(box, h).not.toBeNull();
        expect(box!.x + box!.width, h).toBeLessThanOrEqual(1400);
      }
      const refCell = page.locator(`#pairs tbody tr[data-index="${fd.index}"] td.name`).first();
      expect(await refCell.textContent()).toBe(fd.reference.slice(SCOPE.length));
      expect(await refCell.getAttribute('title')).toBe(fd.reference);
      // The error chart's x-axis names the layers, the first divergence among them.
      // Each label's own text (its <title> child holds the full name).
      const xl = await page.$$eval('#curve text.xlabel', (els) => els.map((e) => e.firstChild!.textContent));
      expect(xl.length).toBe(result.pairs.length);
      expect(xl).toContain('block1_conv2_act/Relu');
      expect(await page.$eval('#curve text.xlabel.first', (e) => e.firstChild!.textContent)).toMatch(/^separable_conv2…/);
      expect(await page.locator('#curve text.xlabel.first title').textContent()).toBe(fd.reference);
      expect(await page.locator('#curve text.xlabel.first').count()).toBe(1);
      mkdirSync(join(import.meta.dirname, '../../reports'), { recursive: true });
      await page.screenshot({ path: join(import.meta.dirname, '../../reports/report-screenshot-real.png'), fullPage: true });
      expect(errors).toEqual([]);
    } finally {
      await browser.close();
    }
  }, 120_000);

});

describe.runIf(!existsSync(CHROMIUM))('HTML report in a browser (skipped)', () => {
  it('needs Chromium', () => {
    console.log(`skipping browser tests: ${CHROMIUM} not found (apt-get install -y chromium)`);
  });
});
