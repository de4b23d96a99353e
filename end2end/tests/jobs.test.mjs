// Jobs in a real browser against the demo's simulated servers: an admin
// selects two missing patches on a server, installs them, and watches the
// job go from queued to succeeded as the simulated agent runs it; the
// patches then show as installed. A reboot asks for confirmation first.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { launch, newPage, hydrated, signInAs } from './helpers.mjs';

let browser;
before(async () => { browser = await launch(); });
after(async () => { await browser?.close(); });

test('an admin installs two patches on a simulated server and watches the job finish', async () => {
  const page = await newPage(browser);
  await signInAs(page, 'admin');
  await page.goto('/servers');
  await hydrated(page);
  await page.locator('#servers tr[data-server="web-04"] a').click();
  await page.waitForURL(/\/servers\/\d+$/);
  await hydrated(page);
  await page.locator('#patches').waitFor();

  const rows = page.locator('#patches tbody tr');
  const chosen = [await rows.nth(0).getAttribute('data-package'), await rows.nth(1).getAttribute('data-package')];
  await rows.nth(0).locator('input[type=checkbox]').check();
  await rows.nth(1).locator('input[type=checkbox]').check();
  assert.equal(await page.locator('#install-selected').innerText(), 'Install selected (2)');
  await page.locator('#install-selected').click();

  const job = page.locator('#jobs tbody tr[data-job]').first();
  await job.waitFor();
  const what = await job.locator('td').nth(1).innerText();
  for (const name of chosen) assert.ok(what.includes(`${name}=`), `${what} names ${name}`);
  // The simulated agent checks in every 2 s; the card refreshes itself.
  await page.locator('#jobs tbody tr[data-state="succeeded"]').first().waitFor({ timeout: 30_000 });
  await page.locator('#jobs details summary').first().click();
  assert.match(await page.locator('#jobs pre.log').first().innerText(), /Setting up/);
  // The re-scan reached the portal: the two patches are no longer missing.
  await page.waitForFunction((names) => {
    const open = [...document.querySelectorAll('#patches tbody tr')].map((tr) => tr.dataset.package);
    return names.every((n) => !open.includes(n));
  }, chosen, { timeout: 30_000 });

  // A reboot needs a confirmation, and is confirmed by a new boot id.
  await page.getByRole('button', { name: 'Reboot…' }).click();
  await page.getByRole('alertdialog').getByRole('button', { name: 'Reboot' }).click();
  await page.locator('#jobs tbody tr[data-job]').first().locator('text=reboot').waitFor();
  await page.locator('#jobs tbody tr[data-job]').first().and(page.locator('[data-state="succeeded"]')).waitFor({ timeout: 30_000 });
  assert.match(await page.locator('#jobs tbody tr[data-job]').first().innerText(), /new boot id/);
  assert.deepEqual(page.errors, []);
  await page.context().close();
});

test('owners see their servers\' jobs and may install only what was published for them', async () => {
  const page = await newPage(browser);
  await signInAs(page, 'owner');
  await page.goto('/servers');
  await hydrated(page);
  await page.locator('#servers tr[data-server="web-01"] a').click();
  await page.waitForURL(/\/servers\/\d+$/);
  await hydrated(page);
  await page.locator('#to-install').waitFor();
  await page.locator('#missing-patches').waitFor({ state: 'attached' });
  // Only published patches can be chosen (the folded list of every
  // missing patch has no check boxes); nothing is chosen yet.
  assert.equal(await page.locator('#install-selected').isDisabled(), true);
  assert.equal(await page.locator('#missing-patches input[type=checkbox]').count(), 0);
  assert.equal(
    await page.locator('#published-patches input[type=checkbox]:not([disabled])').count(),
    await page.locator('#missing-patches tbody tr[data-state="published"]').count(),
  );
  assert.equal(await page.getByRole('button', { name: 'Reboot…' }).count(), 0);
  await page.getByText('No jobs have run on this server yet.').waitFor();
  assert.equal(await page.locator('#servers tr[data-server="web-03"]').count(), 0);
  assert.deepEqual(page.errors, []);
  await page.context().close();
});

test('a patch page says why the patch matters and which servers miss it', async () => {
  const page = await newPage(browser);
  await signInAs(page, 'admin');
  await page.goto('/servers');
  await hydrated(page);
  const href = await page.locator('#servers tr[data-server="db-02"] a').getAttribute('href');
  // The demo imports its advisories once the simulated servers reported.
  let patchHref = null;
  for (let i = 0; i < 20 && !patchHref; i++) {
    await page.goto(href);
    await hydrated(page);
    await page.locator('#patches').waitFor();
    const withAdvisory = page.locator('#patches tbody tr', { hasText: 'DSA-' }).first();
    if (await withAdvisory.count()) patchHref = await withAdvisory.locator('a').first().getAttribute('href');
    else await page.waitForTimeout(1000);
  }
  assert.ok(patchHref, 'the demo server has a patch with an advisory');
  await page.goto(patchHref);
  await hydrated(page);
  await page.locator('#patch-name').waitFor();
  // Linked from db-02's page: what the update fixes on db-02.
  assert.match(await page.locator('#fixes-heading').innerText(), /^What it fixes on db-02 \(installed: /);
  const advisory = page.locator('#advisories article').first();
  assert.match(await advisory.locator('h3').innerText(), /DSA-\d+-1/);
  assert.match(await advisory.locator('.cves a').first().getAttribute('href'), /^https:\/\/www\.cve\.org\/CVERecord\?id=CVE-/);
  await page.locator('#missing-on tr[data-server="db-02"]').waitFor();
  assert.deepEqual(page.errors, []);
  await page.context().close();
});
