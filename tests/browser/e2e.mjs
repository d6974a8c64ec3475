// End-to-end browser test of the Quorum web app, driven like a person would: headless Chromium
// (Debian's /usr/bin/chromium through playwright-core) against `quorum demo` on a fresh database
// (SQLite, or the one QUORUM_E2E_DATABASE_URL names). It logs in and labels with the keyboard
// only, checks that logging out ends the session even for a replayed cookie, checks the owner
// dashboard and the labels download, and writes screenshots to docs/screenshots/.
//
//   bash tests/browser/run.sh                  # installs what is missing, builds if needed, runs this
//   QUORUM_BIN=target/release/quorum node --test tests/browser/e2e.mjs
//
// Environment: QUORUM_BIN (default ../../target/debug/quorum from this file),
// QUORUM_CHROMIUM (default /usr/bin/chromium), QUORUM_SCREENSHOTS (default docs/screenshots),
// QUORUM_E2E_TIMEOUT_MS (default 120000), QUORUM_E2E_DATABASE_URL (an empty database; default a
// SQLite file in a temporary directory).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, mkdir, rm } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const here = path.dirname(fileURLToPath(import.meta.url));
const repo = path.resolve(here, '..', '..');
const bin = path.resolve(process.env.QUORUM_BIN || path.join(here, '..', '..', 'target', 'debug', 'quorum'));
const chromiumPath = process.env.QUORUM_CHROMIUM || '/usr/bin/chromium';
const shots = path.resolve(repo, process.env.QUORUM_SCREENSHOTS || path.join('docs', 'screenshots'));

const TEST_TIMEOUT_MS = Number(process.env.QUORUM_E2E_TIMEOUT_MS) || 120_000;
const SERVER_START_MS = 60_000;
const STEP_MS = 15_000;
const PASSWORD = 'demo';
const LABELS_HEADER = 'item_id,status,label,votes,judgments,agreement,answers';
const LEAGUE_OPTIONS = ['nba', 'nfl', 'mlb', 'nhl', 'mls'];

/** Starts `quorum demo` on an ephemeral port; resolves once it prints its serving line. */
function startServer(dbUrl) {
  const child = spawn(bin, ['--database', dbUrl, 'demo', '--bind', '127.0.0.1:0'], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, NO_COLOR: '1' },
  });
  // Last resort: never leave the server behind when this process exits or is told to stop.
  const killNow = () => { if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL'); };
  process.once('exit', killNow);
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
    process.once(signal, () => { killNow(); process.exit(128 + (signal === 'SIGINT' ? 2 : signal === 'SIGTERM' ? 15 : 1)); });
  }
  let stdout = '';
  let stderr = '';
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (d) => { stderr = (stderr + d).slice(-8_000); });
  const output = () => `--- quorum stdout ---\n${stdout}\n--- quorum stderr (tail) ---\n${stderr}`;
  const ready = new Promise((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`quorum did not print its serving line within ${SERVER_START_MS} ms\n${output()}`)),
      SERVER_START_MS,
    );
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (d) => {
      stdout += d;
      const m = stdout.match(/Quorum is serving on (http:\/\/127\.0\.0\.1:(\d+)\/)/);
      if (m) { clearTimeout(timer); resolve(m[1]); }
    });
    child.on('error', (e) => { clearTimeout(timer); reject(new Error(`cannot start ${bin}: ${e.message}`)); });
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`quorum exited early (code ${code}, signal ${signal})\n${output()}`));
    });
  });
  return { child, ready, output };
}

/** SIGTERM, then SIGKILL if it is still there after a few seconds. */
async function stopServer(child) {
  if (!child || child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
  await exited;
  clearTimeout(timer);
}

/** A small RFC 4180 reader: quoted fields, doubled quotes, CRLF or LF. */
function parseCsv(text) {
  const rows = [];
  let row = [];
  let field = '';
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (quoted) {
      if (c === '"' && text[i + 1] === '"') { field += '"'; i++; }
      else if (c === '"') quoted = false;
      else field += c;
    } else if (c === '"') quoted = true;
    else if (c === ',') { row.push(field); field = ''; }
    else if (c === '\n' || c === '\r') {
      if (c === '\r' && text[i + 1] === '\n') i++;
      row.push(field); rows.push(row); row = []; field = '';
    } else field += c;
  }
  if (field !== '' || row.length) { row.push(field); rows.push(row); }
  return rows;
}

/** Logs in with the keyboard alone: focus the email field, type, Tab, type the password, Enter. */
async function logIn(page, base, email) {
  await page.goto(new URL('/login', base).href);
  await page.locator('#email').focus();
  await page.keyboard.type(email);
  await page.keyboard.press('Tab');
  assert.equal(await page.evaluate(() => document.activeElement?.id), 'password',
    'Tab from the email field should land on the password field');
  await page.keyboard.type(PASSWORD);
  const navigated = page.waitForNavigation({ waitUntil: 'load' });
  await page.keyboard.press('Enter');
  await navigated;
  assert.notEqual(new URL(page.url()).pathname, '/login', `login as ${email} failed: still on ${page.url()}`);
}

const itemId = (page) => page.locator('#item-title .mono').innerText({ timeout: STEP_MS });

test('annotator labels with the keyboard; owner sees it on the dashboard and in the download',
  { timeout: TEST_TIMEOUT_MS },
  async (t) => {
    assert.ok(existsSync(bin), `quorum binary not found at ${bin} (set QUORUM_BIN or run cargo build --bin quorum)`);
    assert.ok(existsSync(chromiumPath), `Chromium not found at ${chromiumPath} (apt-get install -y chromium)`);

    const tmp = await mkdtemp(path.join(tmpdir(), 'quorum-e2e-'));
    let server;
    let browser;
    let cleaning;
    // Runs once: from `finally`, or when node:test aborts the test (its timeout), since a step
    // that never settles would otherwise keep the server, the browser and this process alive.
    const cleanup = () => (cleaning ??= (async () => {
      await browser?.close().catch(() => {});
      await stopServer(server?.child);
      await rm(tmp, { recursive: true, force: true });
    })());
    t.signal.addEventListener('abort', () => {
      // If a step is stuck in something that keeps this process alive, end it after cleaning up
      // (the runner has already reported the timeout by then).
      cleanup().finally(() => setTimeout(() => process.exit(1), 5_000).unref());
    }, { once: true });
    const pageErrors = [];
    const consoleErrors = [];
    const cspViolations = [];
    try {
      server = startServer(process.env.QUORUM_E2E_DATABASE_URL || `sqlite://${path.join(tmp, 'demo.db')}`);
      const base = await server.ready;
      t.diagnostic(`quorum demo serving on ${base}`);

      browser = await chromium.launch({
        executablePath: chromiumPath,
        timeout: 30_000,
        args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
          '--disable-background-networking', '--disable-component-update', '--disable-sync'],
      });
      if (cleaning) { await browser.close().catch(() => {}); throw new Error('test aborted while Chromium was starting'); }
      const context = await browser.newContext({ viewport: { width: 1280, height: 800 }, acceptDownloads: true });
      context.setDefaultTimeout(STEP_MS);
      context.setDefaultNavigationTimeout(20_000);
      const page = await context.newPage();
      page.on('pageerror', (e) => pageErrors.push(`${page.url()}: ${e.message}`));
      page.on('console', (m) => {
        if (m.type() === 'error') consoleErrors.push(`${page.url()}: ${m.text()} ${m.location()?.url ?? ''}`.trim());
        // Chromium reports every blocked script, style or frame on the console.
        if (/Content Security Policy/i.test(m.text())) cspViolations.push(`${page.url()}: ${m.text()}`);
      });
      // The policy is on for this run: the first page carries it.
      const first = await page.request.get(new URL('/login', base).href);
      assert.match(first.headers()['content-security-policy'] ?? '', /default-src 'self'/,
        'the login page must carry the Content-Security-Policy');
      await mkdir(shots, { recursive: true });

      // --- Annotator: keyboard login, then three items labeled with digit keys. ---
      await logIn(page, base, 'annotator1@example.com');
      assert.equal(new URL(page.url()).pathname, '/');
      assert.ok(await page.locator('a[href="/p/leagues/label"]').count() >= 1,
        'annotator home should link to the leagues project');

      await page.goto(new URL('/p/leagues/label', base).href);
      let previous = await itemId(page);
      assert.match(previous, /\S/, 'labeling page should show an item id');
      const labeled = [];
      for (const key of [1, 2, 3]) {
        assert.equal(await page.locator(`.choice[data-key="${key}"]`).count(), 1, `choice button for key ${key}`);
        const posted = page.waitForRequest(
          (r) => r.method() === 'POST' && new URL(r.url()).pathname === '/p/leagues/label');
        const navigated = page.waitForNavigation({ waitUntil: 'load' });
        await page.keyboard.press(String(key));
        const request = await posted;
        await navigated;
        const form = new URLSearchParams(request.postData() ?? '');
        assert.equal(form.get('answer'), LEAGUE_OPTIONS[key - 1], `key ${key} should submit ${LEAGUE_OPTIONS[key - 1]}`);
        assert.equal(new URL(page.url()).pathname, '/p/leagues/label');
        const current = await itemId(page);
        assert.notEqual(current, previous, `after pressing ${key} a new item should be shown`);
        t.diagnostic(`key ${key}: item ${previous} labeled ${form.get('answer')}, next item ${current}`);
        labeled.push({ id: previous, answer: form.get('answer') });
        previous = current;
      }

      await page.screenshot({ path: path.join(shots, 'labeling.png') });
      await page.setViewportSize({ width: 375, height: 740 });
      const phoneOverflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
      if (phoneOverflow > 0) t.diagnostic(`WARNING: labeling page overflows a 375 px viewport by ${phoneOverflow} px`);
      await page.screenshot({ path: path.join(shots, 'labeling-phone.png') });
      await page.setViewportSize({ width: 1280, height: 800 });

      // --- Log out (the nav's POST form), then in again as the owner. ---
      const sessionCookies = await context.cookies();
      const loggedOut = page.waitForNavigation({ waitUntil: 'load' });
      await page.getByRole('button', { name: 'Log out' }).click();
      await loggedOut;
      await page.goto(new URL('/p/leagues/label', base).href);
      assert.equal(new URL(page.url()).pathname, '/login', 'after logging out the labeling page should ask for a login');
      // The session cookie saved before logging out, put back: the server has ended that session.
      await context.addCookies(sessionCookies);
      await page.goto(new URL('/p/leagues/label', base).href);
      assert.equal(new URL(page.url()).pathname, '/login', 'a session cookie replayed after logout must not log in');

      await logIn(page, base, 'owner@example.com');
      assert.equal(await page.locator('nav a[href="/o"]').count(), 1, 'owner should see the Manage link');

      await page.goto(new URL('/o/leagues', base).href);
      const judgmentsKpi = page.locator('.kpi').filter({ has: page.locator('.kpi-label', { hasText: /^judgments\b/ }) });
      assert.equal(await judgmentsKpi.count(), 1, 'dashboard should have one judgments KPI card');
      assert.equal((await judgmentsKpi.locator('.kpi-value').innerText()).trim(), '3');
      assert.ok(await page.locator('svg').count() >= 2, 'dashboard should show its SVG charts');
      const annotatorRow = page.locator('table tbody tr', { hasText: 'annotator1' });
      assert.equal(await annotatorRow.count(), 1, 'annotator table should list annotator1');
      await page.screenshot({ path: path.join(shots, 'dashboard.png'), fullPage: true });

      // --- Download labels.csv with the page's session cookies. ---
      const link = page.locator('a[href="/o/leagues/download/labels.csv"]');
      assert.equal(await link.count(), 1, 'dashboard should link to labels.csv');
      const response = await page.request.get(new URL('/o/leagues/download/labels.csv', base).href);
      assert.equal(response.status(), 200);
      assert.match(response.headers()['content-type'] ?? '', /^text\/csv/);
      assert.match(response.headers()['content-disposition'] ?? '', /^attachment/);
      const csv = await response.text();
      assert.ok(csv.startsWith(LABELS_HEADER), `labels.csv should start with ${LABELS_HEADER}, got ${JSON.stringify(csv.slice(0, 80))}`);
      const [header, ...rows] = parseCsv(csv).filter((r) => r.length > 1 || r[0] !== '');
      const col = (name) => header.indexOf(name);
      const once = rows.filter((r) => r[col('judgments')] === '1');
      assert.equal(once.length, 3, `three rows should have judgments = 1:\n${csv}`);
      assert.deepEqual(once.map((r) => r[col('item_id')]).sort(), labeled.map((l) => l.id).sort(),
        'the rows with one judgment should be the items just labeled');
      assert.ok(rows.every((r) => r[col('judgments')] === '1' || r[col('judgments')] === '0'),
        'every other item should have no judgment yet');

      // --- Settings: the answer kind switches its section without a script; a save comes back
      // to the dashboard with a message. ---
      await page.goto(new URL('/o/leagues/settings', base).href);
      assert.ok(await page.locator('#options').isVisible(), 'choice projects show their options');
      await page.locator('#kind-text').check();
      assert.ok(!(await page.locator('#options').isVisible()), 'text answers hide the options');
      assert.ok(await page.locator('input[name="norm_trim"]').isVisible(), 'and show the normalisers');
      await page.locator('#kind-choice').check();
      await page.setViewportSize({ width: 375, height: 740 });
      const formOverflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
      assert.ok(formOverflow <= 0, `settings page overflows a 375 px viewport by ${formOverflow} px`);
      await page.setViewportSize({ width: 1280, height: 800 });
      await page.screenshot({ path: path.join(shots, 'settings.png'), fullPage: true });
      await page.locator('#lease_minutes').fill('15');
      const saved = page.waitForNavigation({ waitUntil: 'load' });
      await page.getByRole('button', { name: 'Save settings' }).click();
      await saved;
      assert.equal(new URL(page.url()).pathname, '/o/leagues');
      assert.match(await page.locator('.notice[role=status]').innerText(), /Settings saved/);

      assert.deepEqual(pageErrors, [], 'no uncaught JavaScript errors on any page');
      for (const e of consoleErrors) t.diagnostic(`console error (not fatal): ${e}`);
      assert.deepEqual(cspViolations, [], 'no page may violate the Content-Security-Policy');
    } catch (e) {
      if (server) e.message += `\n${server.output()}`;
      throw e;
    } finally {
      await cleanup();
    }
  });
