// The Patches Missing report in a real browser against the demo fleet: the
// admin narrows it to known-exploited patches and opens one; the filters,
// order, view and page live in the address, so Back (and a reload) bring
// the same report back; ticking rows opens a bar that moves no row.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { launch, newPage, hydrated, signInAs } from './helpers.mjs';

let browser;
before(async () => { browser = await launch(); });
after(async () => { await browser?.close(); });

test('the admin filters the report to known-exploited patches and opens one', async () => {
  // The demo imports its advisories once the simulated servers reported.
  const page = await reportAsAdmin('#report .kev');
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
  await page.waitForURL((u) => /^\/patches\/\d+$/.test(u.pathname));
  await page.locator('#patch-name').waitFor();
  assert.match(await page.locator('#patch-name').innerText(), new RegExp(`^${name} `));
  await page.getByText('known exploited').first().waitFor();
  assert.deepEqual(page.errors, []);
  await page.context().close();
});

test('the admin narrows the report to critical security patches on critical servers, opens one and exports the filter', async () => {
  const page = await newPage(browser);
  await signInAs(page, 'admin');
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
  await page.waitForURL((u) => /^\/patches\/\d+$/.test(u.pathname));
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
  await signInAs(page, 'admin');
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

// Signs the admin in and opens the report once it shows `until` (rows,
// once the demo fleet reported).
async function reportAsAdmin(until = '#report tbody tr') {
  const page = await newPage(browser);
  await signInAs(page, 'admin');
  for (let i = 0; i < 30; i++) {
    await page.goto('/report');
    await hydrated(page);
    await page.locator('#report, .empty').first().waitFor();
    if (await page.locator(until).count()) break;
    await page.waitForTimeout(1000);
  }
  return page;
}

// What the report shows: the filter fields, the order, the view, the page
// and the rows (their packages or host names).
async function shownReport(page) {
  return page.evaluate(() => ({
    severity: document.querySelector('select[name=severity]').value,
    securityOnly: document.querySelector('input[name=security_only]').checked,
    search: document.querySelector('input[name=search]').value,
    sortedBy: [...document.querySelectorAll('th[aria-sort]')].map((th) =>
      `${th.querySelector('a').dataset.sort} ${th.getAttribute('aria-sort')}`),
    view: document.querySelector('[role=tab][aria-selected=true]').id,
    page: document.querySelector('#report-page')?.textContent,
    rows: [...document.querySelectorAll('#report tbody tr, #report-servers tbody tr')]
      .map((tr) => tr.dataset.package ?? tr.dataset.hostname),
  }));
}

// Waits until the rows on screen belong to the address (the table follows
// the address after a fetch). After Back or a filter change within the page
// 'networkidle' may already hold from the page's load: callers first wait
// for something only the new table shows (its sort, its view).
async function rowsSettled(page) {
  await page.waitForLoadState('networkidle');
  await page.locator('#report tbody tr, #report-servers tbody tr, .empty').first().waitFor();
}

test("Back keeps the report's filters", async () => {
  const page = await reportAsAdmin();
  // Typing in the search box replaces the address: no history entry per key.
  const entries = await page.evaluate(() => history.length);
  await page.getByLabel('Search package').pressSequentially('zz-none');
  await page.waitForURL((u) => u.searchParams.get('search') === 'zz-none');
  await page.locator('.empty').waitFor();
  await page.getByLabel('Search package').fill('');
  await page.waitForURL((u) => u.pathname === '/report' && u.search === '');
  assert.equal(await page.evaluate(() => history.length), entries, 'typing adds no history entry');

  // Low or worse, security only, by package A to Z.
  await page.getByLabel('Severity').selectOption('low');
  await page.getByLabel(/security only/).check();
  await page.waitForURL((u) => u.searchParams.get('severity') === 'low' && u.searchParams.get('security_only') === 'true');
  await rowsSettled(page);
  await page.locator('#report th a[data-sort="package"]').click();
  await page.waitForURL((u) => u.searchParams.get('sort') === 'package' && !u.searchParams.has('descending'));
  await page.locator('#report th[aria-sort="ascending"] a[data-sort="package"]').waitFor();
  await rowsSettled(page);
  // The second page, when there is one (a page is a history entry).
  const next = page.locator('nav.pager a[rel="next"]');
  if (await next.count()) {
    await next.click();
    await page.waitForURL((u) => u.searchParams.get('page') === '2');
    await page.locator('#report-page', { hasText: /^Page 2 of/ }).waitFor();
    await rowsSettled(page);
  }
  const before = await shownReport(page);
  const address = new URL(page.url());
  assert.equal(before.severity, 'low');
  assert.equal(before.securityOnly, true);
  assert.deepEqual(before.sortedBy, ['package ascending']);
  assert.equal(before.view, 'view-patch');
  assert.ok(before.rows.length > 0, 'the filter shows rows');

  // Open a patch: its back link names the report and leads to this address.
  await page.locator('#report tbody tr').first().locator('a[href^="/patches/"]').click();
  await page.waitForURL((u) => /^\/patches\/\d+$/.test(u.pathname));
  const back = page.locator('#back a');
  await back.waitFor();
  assert.equal(await back.innerText(), '‹ Back to the report');
  assert.equal(await back.getAttribute('href'), address.pathname + address.search);

  // The browser's Back: the same filters, order, view, page and rows.
  await page.goBack();
  await page.waitForURL((u) => u.pathname === '/report' && u.search === address.search);
  await rowsSettled(page);
  assert.deepEqual(await shownReport(page), before);

  // The page's own back link, and a reload (rendered by the server).
  await page.locator('#report tbody tr').first().locator('a[href^="/patches/"]').click();
  await back.waitFor();
  await back.click();
  await page.waitForURL((u) => u.pathname === '/report' && u.search === address.search);
  await rowsSettled(page);
  assert.deepEqual(await shownReport(page), before);
  await page.reload();
  await hydrated(page);
  await rowsSettled(page);
  assert.deepEqual(await shownReport(page), before);
  // The server's first paint is already filtered (no JavaScript needed).
  const html = await (await page.request.get(page.url())).text();
  assert.match(html, /<option[^>]*value="low"[^>]*selected/);
  assert.ok(html.includes(`data-package="${before.rows[0]}"`), 'the first row is in the server-rendered page');

  // By server, sorted by host name, then open a server and come Back.
  await page.locator('#view-server').click();
  await page.waitForURL((u) => u.searchParams.get('view') === 'server' && u.searchParams.get('severity') === 'low');
  await page.locator('#report-servers tbody tr').first().waitFor();
  await page.locator('#report-servers th a[data-sort="hostname"]').click();
  await page.waitForURL((u) => u.searchParams.get('sort') === 'hostname');
  await page.locator('#report-servers th[aria-sort="ascending"] a[data-sort="hostname"]').waitFor();
  await rowsSettled(page);
  const byServer = await shownReport(page);
  const serverAddress = page.url();
  assert.equal(byServer.view, 'view-server');
  await page.locator('#report-servers tbody tr').first().locator('a[href^="/servers/"]').click();
  await page.waitForURL((u) => /^\/servers\/\d+$/.test(u.pathname));
  await page.goBack();
  await page.waitForURL(serverAddress);
  // Back within the page is no load: wait for the table of this address.
  await page.locator('#report-servers th[aria-sort="ascending"] a[data-sort="hostname"]').waitFor();
  await rowsSettled(page);
  assert.deepEqual(await shownReport(page), byServer);
  // One more Back: the view by patch as it was.
  await page.goBack();
  await page.waitForURL((u) => u.search === address.search);
  await page.locator('#report th[aria-sort="ascending"] a[data-sort="package"]').waitFor();
  await rowsSettled(page);
  assert.deepEqual(await shownReport(page), before);
  assert.deepEqual(page.errors, []);
  await page.context().close();
});

test('ticking a row opens the selection bar without moving the rows', async () => {
  const page = await reportAsAdmin();
  const bar = page.locator('#selection-bar');
  assert.equal(await bar.isVisible(), false, 'no bar before a row is ticked');
  const first = page.locator('#report tbody tr').first();
  const before = await first.boundingBox();
  await first.locator('input[type=checkbox]').check();
  await bar.waitFor();
  await page.locator('#deploy-panel').waitFor();
  assert.match(await page.locator('#selection').innerText(), /^1 patch selected/);
  const after = await first.boundingBox();
  assert.deepEqual(after, before, 'the first row stays where it was');
  // The bar sits at the bottom of the window.
  const box = await bar.boundingBox();
  const height = page.viewportSize().height;
  assert.ok(box.y + box.height <= height + 1 && box.y > height / 3, `the bar is at the bottom: ${JSON.stringify(box)}`);

  // The selection is still there after a look at a patch and Back.
  const ticked = await first.getAttribute('data-package');
  await page.locator('#report tbody tr').nth(1).locator('a[href^="/patches/"]').click();
  await page.waitForURL((u) => /^\/patches\/\d+$/.test(u.pathname));
  await page.locator('#patch-name').waitFor();
  await page.goBack();
  await page.waitForURL((u) => u.pathname === '/report');
  await page.locator(`#report tbody tr[data-package="${ticked}"]`).first().waitFor();
  assert.equal(await page.locator(`#report tbody tr[data-package="${ticked}"] input[type=checkbox]`).first().isChecked(), true);
  await bar.waitFor();

  // Clearing it closes the bar; the rows stay put again.
  const open = await page.locator('#report tbody tr').first().boundingBox();
  await page.locator('#selection button', { hasText: 'Clear' }).click();
  await bar.waitFor({ state: 'hidden' });
  assert.deepEqual(await page.locator('#report tbody tr').first().boundingBox(), open);
  assert.deepEqual(page.errors, []);
  await page.context().close();
});
