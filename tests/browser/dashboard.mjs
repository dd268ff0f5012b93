// Browser test of the dashboard: Debian's Chromium driven by playwright-core
// against a running agent on the simulated GPUs.
//   node dashboard.mjs URL EXPECT.json OUTDIR
// EXPECT.json: {"gpus": [{"index", "name", "utilization_gpu_pct", "temperature_c",
//                         "temperature_level" (as the CLI's table colours it), ...}],
//               "hostile": "<img ...>"} from the scenario the agent runs.
// Exits 0 when every check passes; prints each failure otherwise.
import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

// playwright-core is web/'s dev dependency (npm ci --prefix web).
const here = path.dirname(fileURLToPath(import.meta.url));
const require = createRequire(path.join(here, '..', '..', 'web', 'package.json'));
const { chromium } = require('playwright-core');

const [url, expectPath, outDir] = process.argv.slice(2);
const expect = JSON.parse(fs.readFileSync(expectPath, 'utf8'));
fs.mkdirSync(outDir, { recursive: true });
const failures = [];
function check(cond, what) {
  if (!cond) failures.push(what);
  console.log((cond ? 'ok   ' : 'FAIL ') + what);
}

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'],
});
try {
  const context = await browser.newContext({ viewport: { width: 1400, height: 1000 }, colorScheme: 'light' });
  const page = await context.newPage();
  const consoleErrors = [];
  page.on('console', (m) => { if (m.type() === 'error') consoleErrors.push(m.text()); });
  page.on('pageerror', (e) => consoleErrors.push(String(e)));
  let dialogs = 0;
  page.on('dialog', async (d) => { dialogs++; await d.dismiss(); });
  // Any script that ran because of the hostile name would set this.
  await page.addInitScript(() => { window.__xss = 0; window.alert = () => { window.__xss++; }; });

  await page.goto(url, { waitUntil: 'networkidle' });
  await page.waitForSelector('.card');
  await page.waitForFunction((n) => document.querySelectorAll('.card').length === n, expect.gpus.length);

  // The cards show the scenario's values.
  for (const g of expect.gpus) {
    const card = page.locator('.card', { has: page.locator('.idx', { hasText: '#' + g.index }) });
    if (g.lost) {
      // A GPU lost before it could be named shows as lost, without readings.
      check(await card.locator('.lost-msg').isVisible(), `card ${g.index} is shown as lost`);
      check((await card.locator('.metric:visible').count()) === 0, `card ${g.index} shows no stale readings`);
      continue;
    }
    const name = await card.locator('.name').textContent();
    check(name === g.name, `card ${g.index} shows the name '${g.name}' (got '${name}')`);
    const util = await card.locator('.metric').nth(0).locator('.value').textContent();
    const shown = parseInt(util, 10);
    check(Math.abs(shown - g.utilization_gpu_pct) <= g.utilization_tolerance,
      `card ${g.index} utilization ${util} is the scenario's ${g.utilization_gpu_pct} %`);
    const temp = await card.locator('.metric').nth(2).locator('.value').textContent();
    check(temp.startsWith(String(g.temperature_c)), `card ${g.index} temperature '${temp}' is ${g.temperature_c} °C`);
    // Coloured as `gpulse now`'s table colours it (the thresholds arrive with /api/v1/info).
    const want = 'metric' + (g.temperature_level ? ' ' + g.temperature_level : '');
    const tempRow = card.locator('.metric').nth(2);
    await page.waitForFunction(([i, w]) => {
      const c = Array.from(document.querySelectorAll('.card')).find((e) => e.querySelector('.idx').textContent === '#' + i);
      return c && c.querySelectorAll('.metric')[2].className === w;
    }, [g.index, want], { timeout: 10000 }).catch(() => {});
    const cls = await tempRow.getAttribute('class');
    check(cls === want, `card ${g.index} colours ${g.temperature_c} °C as the table does ('${want}', got '${cls}')`);
    // A process list the driver refuses is unknown, not 0 processes.
    const kv = await card.locator('.kv').textContent();
    const procsShown = g.processes_unknown ? 'Processes unknown' : 'Processes ' + g.processes;
    check(kv.includes(procsShown), `card ${g.index} shows '${procsShown}' ('${kv}')`);
  }
  const host = await page.locator('#host').textContent();
  check(host === expect.host, `the header names the host '${expect.host}' (got '${host}')`);

  // Charts draw: one canvas per chart, with a series per GPU in the legend.
  await page.waitForFunction(() => document.querySelectorAll('.chart canvas').length === 4, null, { timeout: 20000 });
  const legends = await page.locator('#chart-util .u-legend .u-series').count();
  check(legends === expect.chart_series + 1, `the utilization chart has a series per GPU with history (${legends - 1})`);
  const painted = await page.evaluate(() => {
    const c = document.querySelector('#chart-util canvas');
    const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
    let n = 0;
    for (let i = 3; i < d.length; i += 4) if (d[i] > 0) n++;
    return n;
  });
  check(painted > 1000, `the utilization chart painted pixels (${painted})`);
  // The history document read as the API writes it (times and step in ms).
  const resolution = await page.locator('#resolution').textContent();
  check(resolution === 'Resolution: 5 s.', `the 1 h range is drawn from 5 s buckets ('${resolution}')`);
  const over = await page.locator('#chart-util .u-over').boundingBox();
  await page.mouse.move(over.x + over.width - 3, over.y + over.height / 2);
  const when = await page.locator('#chart-util .u-legend .u-series').first().locator('.u-value').textContent();
  check(when.includes(String(new Date().getFullYear())), `the chart's times are this year's ('${when}')`);
  await page.click('[data-range="86400"]');
  await page.waitForFunction(() => document.querySelector('[data-range="86400"]').getAttribute('aria-pressed') === 'true');
  await page.waitForTimeout(500);
  check((await page.locator('.chart canvas').count()) === 4, 'the 24 h range redraws the charts');
  const dayResolution = await page.locator('#resolution').textContent();
  check(dayResolution === 'Resolution: 2 min.', `the 24 h range is drawn from 2 min buckets ('${dayResolution}')`);

  // The processes table: every running process, sortable, filterable.
  await page.waitForFunction((n) => document.querySelectorAll('#procs tbody tr:not(.empty)').length >= n, expect.process_count, { timeout: 15000 });
  const rows = await page.locator('#procs tbody tr').count();
  check(rows === expect.process_count, `the table lists the ${expect.process_count} running processes (${rows})`);
  const procsCount = await page.locator('#procs-count').textContent();
  for (const g of expect.gpus.filter((x) => x.processes_unknown)) {
    check(procsCount.includes('GPU #' + g.index + ': processes unknown (' + g.processes_error + ')'),
      `the processes table says GPU ${g.index}'s processes are unknown, and why ('${procsCount}')`);
  }
  await page.click('#procs th[data-key="pid"]');
  let pids = await page.locator('#procs tbody tr td:first-child').allTextContents();
  let nums = pids.map(Number);
  const desc = nums.every((v, i) => i === 0 || nums[i - 1] >= v);
  await page.click('#procs th[data-key="pid"]');
  pids = await page.locator('#procs tbody tr td:first-child').allTextContents();
  nums = pids.map(Number);
  const asc = nums.every((v, i) => i === 0 || nums[i - 1] <= v);
  check(desc && asc, `sorting by PID works both ways (${pids.join(',')})`);
  const sortAttr = await page.locator('#procs th[data-key="pid"]').getAttribute('aria-sort');
  check(sortAttr === 'ascending', 'the sorted column says so');

  // The hostile process name shows as text and runs nothing.
  const cmdCells = await page.locator('#procs tbody td.cmd').allTextContents();
  check(cmdCells.some((t) => t.includes(expect.hostile_name)),
    `the hostile name is shown as text (${JSON.stringify(cmdCells)})`);
  check((await page.locator('#procs img').count()) === 0, 'no element was made from the hostile name');

  await page.fill('#filter', expect.filter_user_query);
  await page.waitForFunction(
    (n) => document.querySelectorAll('#procs tbody tr:not(.empty)').length === n,
    expect.filter_matches, { timeout: 10000 });
  check(true, `the filter '${expect.filter_user_query}' leaves ${expect.filter_matches} rows`);
  await page.fill('#filter', 'no-such-process-xyz');
  await page.waitForSelector('#procs tbody tr.empty');
  check(true, 'a filter that matches nothing says so');
  await page.fill('#filter', '');
  await page.waitForFunction((n) => document.querySelectorAll('#procs tbody tr:not(.empty)').length === n, expect.process_count);

  // Usage by user and the activity graph.
  await page.waitForSelector('#users tbody tr');
  const users = await page.locator('#users tbody td:first-child').allTextContents();
  check(users.includes(expect.user), `usage by user lists ${expect.user} (${users.join(',')})`);
  const imgOk = await page.evaluate(() => {
    const i = document.getElementById('activity');
    return i.complete && i.naturalWidth > 0;
  });
  check(imgOk, 'the activity graph is drawn');

  await page.screenshot({ path: path.join(outDir, 'dashboard-light.png'), fullPage: true });

  // Theme: the switch cycles auto -> light -> dark and is remembered.
  const bgLight = await page.evaluate(() => getComputedStyle(document.body).backgroundColor);
  await page.click('#theme'); // light
  await page.click('#theme'); // dark
  await page.waitForFunction(() => document.documentElement.dataset.theme === 'dark');
  const bgDark = await page.evaluate(() => getComputedStyle(document.body).backgroundColor);
  check(bgLight !== bgDark, `the dark theme changes the page (${bgLight} -> ${bgDark})`);
  const src = await page.locator('#activity').getAttribute('src');
  check(src.includes('theme=dark'), 'the activity graph follows the theme');
  await page.waitForFunction(() => document.querySelectorAll('.chart canvas').length === 4);
  await page.reload({ waitUntil: 'networkidle' });
  check((await page.evaluate(() => document.documentElement.dataset.theme)) === 'dark', 'the theme is remembered');
  await page.waitForFunction(() => document.querySelectorAll('.chart canvas').length === 4, null, { timeout: 20000 });
  await page.waitForTimeout(300);
  await page.screenshot({ path: path.join(outDir, 'dashboard-dark.png'), fullPage: true });

  // Following the system: a dark system gives the dark theme on a first visit.
  const sys = await browser.newContext({ viewport: { width: 390, height: 844 }, colorScheme: 'dark' });
  const phone = await sys.newPage();
  phone.on('pageerror', (e) => consoleErrors.push(String(e)));
  await phone.goto(url, { waitUntil: 'networkidle' });
  check((await phone.evaluate(() => document.documentElement.dataset.theme)) === 'dark', 'a dark system gets the dark theme');
  const overflow = await phone.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  const wide = await phone.evaluate(() => Array.from(document.querySelectorAll('body *'))
    .filter((e) => e.getBoundingClientRect().right > window.innerWidth + 1 && !e.closest('.table-wrap, .activity'))
    .slice(0, 5).map((e) => e.tagName + '.' + e.className + '#' + e.id));
  check(overflow <= 0, `on a phone the page does not scroll sideways (${overflow} px: ${wide.join(' ')})`);
  await phone.screenshot({ path: path.join(outDir, 'dashboard-phone.png'), fullPage: false });

  // Live refresh: a later reading replaces the card's values in place.
  const before = await page.locator('.card').first().elementHandle();
  await page.waitForTimeout(6000);
  const after = await page.locator('.card').first().elementHandle();
  check(await page.evaluate(([a, b]) => a === b, [before, after]), 'the cards refresh in place, without rebuilding');

  check(dialogs === 0 && (await page.evaluate(() => window.__xss)) === 0, 'no script ran from host strings');
  check(consoleErrors.length === 0, 'no console errors: ' + JSON.stringify(consoleErrors));
} finally {
  await browser.close();
}
if (failures.length) {
  console.log(failures.length + ' check(s) failed');
  process.exit(1);
}
console.log('all checks passed');
