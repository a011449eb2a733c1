// The dashboard in a real browser: Debian's chromium, driven by playwright-core, against a gateway
// under traffic from the simulators (gateway keys, an admin key, a route whose primary target's
// provider answers every request with a 503). The page asks for the admin key, its panels fill,
// its live numbers change between two reads, the failing target shows as failing, nothing breaks
// its Content-Security-Policy, and neither the page's text and HTML nor the snapshot hold any
// credential the traffic carried. UPDATE_SCREENSHOTS=1 saves the screenshots docs/ shows.
import assert from 'node:assert/strict';
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { request } from 'undici';
import { chromium, type Browser, type Page } from 'playwright-core';
import { startFireworksSim, type FireworksSim } from '../sim/fireworks.js';
import { startOpenAICompatibleSim, type OpenAICompatibleSim } from '../sim/openai-compatible.js';
import type { GatewayServer } from '../src/server.js';
import { GROQ_MODEL, KEY, MODEL, startGateway, until } from './helpers.js';
import { configFileWith, sha256 } from './keys-helpers.js';

const CHROMIUM = '/usr/bin/chromium';
const ADMIN_KEY = 'admin-browser-key-0123456789abcdef';
const TEAM_KEY = 'gk-team-browser-0123456789abcdef';
const BATCH_KEY = 'gk-batch-browser-0123456789abcdef';
/** A key the Groq simulator accepts (`sim-`), so that its fault, a 503, is what the target sees. */
const GROQ_KEY = 'sim-groq-browser-provider-key-0123456789';
const CREDENTIALS = [ADMIN_KEY, TEAM_KEY, BATCH_KEY, GROQ_KEY, KEY];
/** Between two requests of the background traffic: a few dozen a second, a moderate load on a shared 2-core machine. */
const TRAFFIC_PAUSE_MS = 25;
const SCREENSHOTS = process.env.UPDATE_SCREENSHOTS === '1';
const SCREENSHOT_DIR = 'docs/img';

/**
 * The page's document, in the functions playwright runs in the page (this project compiles without
 * the DOM's types). Functions, not strings: the page's CSP allows no eval.
 */
declare const document: any;

const skip = existsSync(CHROMIUM) ? false : `${CHROMIUM} is missing (apt-get install chromium): the dashboard's browser test needs Debian's chromium`;

describe('the dashboard in chromium', { skip }, () => {
  let fireworks: FireworksSim;
  let groq: OpenAICompatibleSim;
  let server: GatewayServer;
  let url: string;
  let origin: string;
  let browser: Browser;
  let page: Page;
  let trafficRunning = true;
  let traffic: Promise<void>;
  const violations: string[] = [];

  function chat(key: string, body: Record<string, unknown>, stream = false) {
    return request(`${url}/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${key}`, 'x-provider': 'fireworks' },
      body: JSON.stringify({ messages: [{ role: 'user', content: 'hi' }], stream, ...body }),
    }).then((res) => res.body.text());
  }

  /** A mix until stopped: plain and streamed chats, the route with the failing primary, and provider errors whose messages quote credentials. */
  async function run(): Promise<void> {
    for (let i = 0; trafficRunning; i++) {
      const work =
        i % 4 === 0
          ? chat(TEAM_KEY, { model: 'team-chat' })
          : i % 4 === 1
            ? chat(BATCH_KEY, { model: MODEL }, true)
            : i % 4 === 2
              ? chat(TEAM_KEY, { model: MODEL })
              : chat(BATCH_KEY, { model: MODEL, sim: { status: 500, error_message: `upstream failed for ${KEY} and ${BATCH_KEY}` } });
      await work.catch(() => undefined);
      await new Promise((resolve) => setTimeout(resolve, TRAFFIC_PAUSE_MS));
    }
  }

  before(async () => {
    fireworks = await startFireworksSim({ port: 0, record: false });
    groq = await startOpenAICompatibleSim({ flavour: 'groq', port: 0, record: false, defaultFault: { status: 503, error_message: 'the simulated Groq is down' } });
    const file = configFileWith(`
routes:
  team-chat:
    targets:
      - {provider: groq, model: ${GROQ_MODEL}, id: primary}
      - {provider: fireworks, model: ${MODEL}, id: backup}
prices:
  - {provider: fireworks, model: ${MODEL}, input: 0.2, output: 0.2}
keys:
  - {name: team, sha256: ${sha256(TEAM_KEY)}, limits: {rpm: 100000, usd_per_day: 10}}
  - {name: batch, sha256: ${sha256(BATCH_KEY)}, limits: {tpm: 10000000}}
`, 'dashboard-browser-');
    ({ server, url } = await startGateway({
      CONFIG_FILE: file,
      ADMIN_KEY_SHA256: sha256(ADMIN_KEY),
      FIREWORKS_BASE_URL: fireworks.url,
      FIREWORKS_API_KEY: KEY,
      GROQ_BASE_URL: groq.url,
      GROQ_API_KEY: GROQ_KEY,
    }));
    origin = url.slice(0, -'/v1'.length);
    traffic = run();
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      headless: true,
      args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    });
    page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
    // The first poll, before the admin key is given, is a 401 the page answers with its form: not a fault.
    page.on('console', (message) => {
      if (message.type() === 'error' && !/status of 401/.test(message.text())) violations.push(message.text());
    });
    page.on('pageerror', (error) => violations.push(String(error)));
  });

  after(async () => {
    trafficRunning = false;
    await traffic;
    await browser?.close();
    await server?.shutdown(0);
    await fireworks?.close();
    await groq?.close();
  });

  test('asks for the admin key once, then its panels fill and its numbers move', async () => {
    await page.goto(`${origin}/ui`);
    await page.waitForSelector('#admin-key', { timeout: 10_000 });
    if (SCREENSHOTS) {
      mkdirSync(SCREENSHOT_DIR, { recursive: true });
      await page.screenshot({ path: join(SCREENSHOT_DIR, 'dashboard-admin-key.png') });
    }
    await page.fill('#admin-key', ADMIN_KEY);
    await page.click('#admin-key-form button');
    await page.waitForSelector('#total-requests', { timeout: 10_000 });
    const count = async () => Number((await page.textContent('#total-requests'))!.replace(/,/g, ''));
    const first = await count();
    // A snapshot is at most a second old and the page polls each second: within a few, the count has moved.
    const deadline = Date.now() + 10_000;
    let second = first;
    while (second === first && Date.now() < deadline) {
      await page.waitForTimeout(500);
      second = await count();
    }
    assert.ok(second > first, `the request count moved: ${first} then ${second}`);
    // Kept for this tab: a reload does not ask again.
    assert.equal(await page.evaluate('sessionStorage.length'), 1);

    // The charts are drawn, the percentiles read, the tables filled.
    assert.equal(await page.locator('#panel-traffic canvas').count(), 1);
    assert.equal(await page.locator('#panel-latency canvas').count(), 1);
    await page.waitForFunction(() => /\d+(\.\d+)? m?s/.test(document.querySelector('#percentiles tbody tr td:nth-child(3)')?.textContent ?? ''), undefined, { timeout: 10_000 });
    assert.ok((await page.locator('#panel-totals tbody tr').count()) >= 2, 'a row per gateway key');
    assert.ok((await page.locator('#panel-recent tbody tr').count()) > 0);
    assert.ok((await page.locator('#panel-limits tbody tr').count()) >= 3, "every key's limits");
    await page.waitForFunction(() => (document.querySelector('#panel-errors')?.textContent ?? '').includes('upstream failed'), undefined, { timeout: 10_000 });
  });

  test('the failing provider shows as failing', async () => {
    await page.waitForFunction(() => document.querySelector('#panel-targets tr[data-target="primary"]')?.classList.contains('failing') === true, undefined, { timeout: 15_000 });
    assert.equal((await page.textContent('#panel-targets tr[data-target="primary"] td.state'))!.trim(), 'FAILING');
    // Its 503s opened its breaker: the route serves from the backup meanwhile.
    assert.match((await page.textContent('#panel-targets tr[data-target="primary"]'))!, /open|half-open/);
    assert.equal((await page.textContent('#panel-targets tr[data-target="backup"] td.state'))!.trim(), 'ok');
  });

  test('the recent requests filter by status class', async () => {
    await page.selectOption('#filter-status', '5xx');
    await page.waitForFunction(
      () => {
        const rows: string[] = [...document.querySelectorAll('#panel-recent tbody tr td:nth-child(2)')].map((cell: { textContent: string }) => cell.textContent);
        return rows.length > 0 && rows.every((status) => status.startsWith('5'));
      },
      undefined,
      { timeout: 10_000 },
    );
    if (SCREENSHOTS) await page.screenshot({ path: join(SCREENSHOT_DIR, 'dashboard-requests.png'), fullPage: true });
    await page.selectOption('#filter-status', '');
  });

  test('the totals table is grouped by the dimension chosen: provider, then key', async () => {
    const firstColumn = () => page.$$eval('#panel-totals tbody tr td:first-child', (cells: { textContent: string | null }[]) => cells.map((cell) => cell.textContent ?? '').sort());
    await page.selectOption('#totals-dimension', 'provider');
    await page.waitForFunction(() => document.querySelector('#panel-totals thead th')?.textContent === 'provider', undefined, { timeout: 10_000 });
    // Providers, not keys: every request was answered (or failed) by one of the two.
    const providers = await firstColumn();
    assert.ok(providers.includes('fireworks'), providers.join(', '));
    assert.ok(providers.every((name) => name === 'fireworks' || name === 'groq' || name === 'other'), providers.join(', '));
    await page.selectOption('#totals-dimension', 'key');
    await page.waitForFunction(() => document.querySelector('#panel-totals thead th')?.textContent === 'key', undefined, { timeout: 10_000 });
    const keys = await firstColumn();
    assert.ok(keys.includes('team') && keys.includes('batch'), keys.join(', '));
    if (SCREENSHOTS) await page.screenshot({ path: join(SCREENSHOT_DIR, 'dashboard.png') });
  });

  test('no credential the traffic carried is in the page or its data, and nothing broke the CSP', async () => {
    const html = await page.content();
    const text = await page.evaluate<string>('document.body.innerText');
    const snapshot = await (await request(`${origin}/ui/api/snapshot`, { headers: { authorization: `Bearer ${ADMIN_KEY}` } })).body.text();
    assert.match(snapshot, /upstream failed/, 'the error messages are there');
    assert.match(snapshot, /\[REDACTED\]/, 'the credentials they quoted were redacted');
    for (const credential of CREDENTIALS) {
      assert.ok(!html.includes(credential), 'not in the HTML');
      assert.ok(!text.includes(credential), 'not in the text');
      assert.ok(!snapshot.includes(credential), 'not in the snapshot');
    }
    assert.deepEqual(violations, []);
  });
});
