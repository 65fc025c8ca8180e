// The stats page in a real browser: every backend and server rendered, a server's row
// turning DOWN's colour when its origin stops (health checks, seen through the page's
// own refresh from /stats.json), readable at phone width; screenshots in test/.artifacts/.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Browser, Page } from 'playwright-core';
import { launchChromium } from './browser.ts';
import { knownTraffic, startStats, until, type StatsFixture } from './fixture.ts';

const artifacts = fileURLToPath(new URL('../../.artifacts/', import.meta.url));
const colour = { UP: 'rgb(184, 240, 184)', DOWN: 'rgb(255, 154, 154)' };

describe('stats page in Chromium', () => {
  let f: StatsFixture;
  let browser: Browser;
  let page: Page;
  const errors: string[] = [];
  const background = (selector: string) => page.$eval(selector, (e) => getComputedStyle(e).backgroundColor);

  before(async () => {
    mkdirSync(artifacts, { recursive: true });
    f = await startStats({ health: { type: 'tcp', interval: '100ms', timeout: '500ms', rise: 1, fall: 1 } });
    await until(async () => (await f.report()).backends[0]!.servers.every((s) => s.check?.result === 'passed'), 5000, 'first health checks');
    await knownTraffic(f.gw);
    browser = await launchChromium();
    page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    page.on('pageerror', (e) => errors.push(e.message));
    page.on('console', (m) => m.type() === 'error' && errors.push(m.text()));
    await page.goto(`http://127.0.0.1:${f.gw.statsPort}/`);
  });
  after(async () => {
    await browser?.close();
    await f?.close();
  });

  it('renders every frontend, backend and server', async () => {
    assert.deepEqual(await page.$$eval('[data-frontend]', (es) => es.map((e) => e.getAttribute('data-frontend'))), ['web']);
    assert.deepEqual(await page.$$eval('[data-backend]', (es) => es.map((e) => e.getAttribute('data-backend'))), ['app', 'dead']);
    assert.deepEqual(await page.$$eval('tr[data-server]', (es) => es.map((e) => `${e.getAttribute('data-server')} ${e.getAttribute('data-status')}`)), [
      'app/a UP',
      'app/b UP',
      'dead/x UP',
    ]);
    assert.equal(await background('tr[data-server="app/b"]'), colour.UP);
    const a = await page.$eval('tr[data-server="app/a"]', (e) => [...e.querySelectorAll('td')].map((td) => td.textContent));
    assert.equal(a[8], '20', 'sessions total of server a');
  });

  it('turns a server DOWN, in its colour, when its origin stops (the page refreshes itself)', async () => {
    const before = await page.$eval('time', (e) => e.getAttribute('datetime'));
    await f.b.close();
    await page.waitForSelector('tr[data-server="app/b"][data-status="DOWN"]', { timeout: 10_000 });
    assert.notEqual(await page.$eval('time', (e) => e.getAttribute('datetime')), before, 'rendered again from /stats.json');
    assert.equal(await background('tr[data-server="app/b"]'), colour.DOWN);
    assert.equal(await background('tr[data-server="app/a"]'), colour.UP);
    assert.match(await page.$eval('tr[data-server="app/b"]', (e) => e.textContent ?? ''), /ECONNREFUSED/);
    assert.equal(await page.$eval('body', (e) => e.dataset.state), 'live');
    await page.screenshot({ path: join(artifacts, 'stats.png'), fullPage: true });
  });

  it('fits a phone: the tables scroll inside their frames, not the page', async () => {
    await page.setViewportSize({ width: 390, height: 844 });
    assert.ok((await page.evaluate(() => document.documentElement.scrollWidth)) <= 390);
    const scrolls = await page.$$eval('.scroll', (es) => es.map((e) => e.scrollWidth > e.clientWidth));
    assert.ok(scrolls.some(Boolean), 'wide tables scroll horizontally');
    await page.screenshot({ path: join(artifacts, 'stats-phone.png'), fullPage: true });
  });

  it('ran its script without errors', () => {
    assert.deepEqual(errors, []);
  });
});
