// The Patches Missing report in a real browser against the demo fleet: the
// admin narrows it to known-exploited patches and opens one.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { launch, newPage, hydrated, signIn, DEMO_PASSWORD } from './helpers.mjs';

let browser;
before(async () => { browser = await launch(); });
after(async () => { await browser?.close(); });

test('the admin filters the report to known-exploited patches and opens one', async () => {
  const page = await newPage(browser);
  await signIn(page, 'admin', DEMO_PASSWORD);
  await page.waitForURL((u) => u.pathname === '/');
  // The demo imports its advisories once the simulated servers reported.
  for (let i = 0; i < 30; i++) {
    await page.goto('/report');
    await hydrated(page);
    await page.locator('#report, .empty').first().waitFor();
    if (await page.locator('#report .kev').count()) break;
    await page.waitForTimeout(1000);
  }
  const all = await page.locator('#report tbody tr').count();
  assert.ok(all > 0, 'the report lists missing patches');
  await page.getByLabel(/known exploited/).first().check();
  await page.waitForFunction(() => {
    const rows = [...document.querySelectorAll('#report tbody tr')];
    return rows.length > 0 && rows.every((tr) => tr.querySelector('.kev'));
  });
  // The CSV download holds exactly the rows on screen, for this filter.
  const shown = await page.locator('#report tbody tr').evaluateAll((rows) => rows.map((tr) => tr.dataset.package));
  const [download] = await Promise.all([page.waitForEvent('download'), page.locator('#csv').click()]);
  const text = readFileSync(await download.path(), 'utf8');
  const lines = text.trim().split('\n');
  assert.match(lines[0], /^package,version,arch,release,severity,cvss,known_exploited/);
  const records = lines.slice(1).map((l) => l.split(','));
  assert.deepEqual(records.map((r) => r[0]), shown.slice(0, records.length));
  assert.ok(records.length >= shown.length, 'every shown row is exported');
  assert.ok(records.every((r) => r[6] === 'yes'), 'all known exploited');
  const first = page.locator('#report tbody tr').first();
  const name = await first.getAttribute('data-package');
  await first.locator('a[href^="/patches/"]').click();
  await page.waitForURL(/\/patches\/\d+$/);
  await page.locator('#patch-name').waitFor();
  assert.match(await page.locator('#patch-name').innerText(), new RegExp(`^${name} `));
  await page.getByText('known exploited').first().waitFor();
  assert.deepEqual(page.errors, []);
  await page.context().close();
});

test('the admin narrows the report to critical security patches on critical servers, opens one and exports the filter', async () => {
  const page = await newPage(browser);
  await signIn(page, 'admin', DEMO_PASSWORD);
  await page.waitForURL((u) => u.pathname === '/');
  // The morning look links its critical count to the report, pre-filtered.
  await page.locator('#morning [data-severity="critical"]').waitFor();
  await hydrated(page);
  await page.locator('#morning [data-severity="critical"]').click();
  await page.waitForURL((u) => u.pathname === '/report' && u.search === '?severity=critical');
  await hydrated(page);
  assert.equal(await page.getByLabel('Severity').inputValue(), 'critical');
  await page.getByLabel('Server criticality').selectOption('critical');
  await page.getByLabel(/security only/).check();
  await page.waitForFunction(() => {
    const rows = [...document.querySelectorAll('#report tbody tr')];
    const csv = document.querySelector('#csv')?.getAttribute('href') ?? '';
    return csv.includes('security_only=true') && csv.includes('criticality=critical')
      && rows.length > 0
      && rows.every((tr) => tr.querySelector('.sev-critical') && tr.dataset.security === 'true');
  });
  const shown = await page.locator('#report tbody tr').evaluateAll((rows) => rows.map((tr) => tr.dataset.package));

  // The CSV by patch has exactly these rows.
  let [download] = await Promise.all([page.waitForEvent('download'), page.locator('#csv').click()]);
  let lines = readFileSync(await download.path(), 'utf8').trim().split('\n');
  let records = lines.slice(1).map((l) => l.split(','));
  assert.deepEqual(records.map((r) => r[0]), shown);
  assert.ok(records.every((r) => r[4] === 'critical' && r[7] === 'yes'), 'critical security patches only');

  // By server, one CSV row per critical server and patch.
  await page.locator('#view-server').click();
  await page.locator('#report-servers tbody tr').first().waitFor();
  [download] = await Promise.all([page.waitForEvent('download'), page.locator('#csv').click()]);
  lines = readFileSync(await download.path(), 'utf8').trim().split('\n');
  assert.match(lines[0], /^hostname,criticality,owner,release,package/);
  records = lines.slice(1).map((l) => l.split(','));
  assert.ok(records.length >= shown.length, 'every patch is missing somewhere');
  assert.ok(records.every((r) => r[1] === 'critical' && r[8] === 'critical' && r[11] === 'yes'), 'rows match the filter');
  assert.deepEqual(new Set(records.map((r) => r[4])), new Set(shown), 'the same patches');

  // Open the first patch: the servers missing it include critical ones,
  // and each appears in the export for that patch.
  await page.locator('#view-patch').click();
  const first = page.locator('#report tbody tr').first();
  await first.waitFor();
  const name = await first.getAttribute('data-package');
  await first.locator('a[href^="/patches/"]').click();
  await page.waitForURL(/\/patches\/\d+$/);
  await page.locator('#missing-on').waitFor();
  const [, version] = (await page.locator('#patch-name').innerText()).split(' ');
  const missingOn = await page.locator('#missing-on tbody tr').evaluateAll((rows) =>
    rows.map((tr) => [tr.dataset.server, tr.querySelector('.badge').textContent]));
  const exported = records.filter((r) => r[4] === name && r[6] === version).map((r) => r[0]).sort();
  assert.deepEqual(missingOn.filter(([, c]) => c === 'critical').map(([h]) => h).sort(), exported);
  assert.deepEqual(page.errors, []);
  await page.context().close();
});

test('the admin follows the advisory imports on the advisories page', async () => {
  const page = await newPage(browser);
  await signIn(page, 'admin', DEMO_PASSWORD);
  await page.waitForURL((u) => u.pathname === '/');
  // The demo imports its advisories (and a KEV catalog) once the simulated
  // servers reported; the page follows running imports by itself.
  await page.goto('/advisories');
  await hydrated(page);
  await page.locator('#imports tr[data-state="succeeded"]').first().waitFor({ timeout: 60_000 });
  const kinds = await page.locator('#imports tbody tr td:nth-child(2) .badge').allInnerTexts();
  assert.ok(kinds.includes('OSV') && kinds.includes('KEV'), `both kinds of import: ${kinds}`);
  assert.match(await page.locator('#imports tr[data-state="succeeded"]').first().innerText(), /read: \d+ new/);
  await page.locator('#advisory-counts tbody tr').first().waitFor();
  assert.deepEqual(page.errors, []);
  await page.context().close();
});
