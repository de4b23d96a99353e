// The manual approach in a real browser against the demo's simulated
// servers: the admin selects two patches in the report, deploys them to a
// group with "reboot at 22:00", and watches the deployment page change state
// as the simulated agents install them.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { launch, newPage, hydrated, signInAs } from './helpers.mjs';

let browser;
before(async () => { browser = await launch(); });
after(async () => { await browser?.close(); });

// A Date as a datetime-local value (UTC, as the form reads it).
const local = (d) => d.toISOString().slice(0, 16);

// The next 22:00 UTC after `after`.
function next2200(after) {
  const at = new Date(Date.UTC(after.getUTCFullYear(), after.getUTCMonth(), after.getUTCDate(), 22, 0));
  if (at <= after) at.setUTCDate(at.getUTCDate() + 1);
  return at;
}

test('the admin deploys two selected patches to a group with a reboot at 22:00 and watches it', async () => {
  const page = await newPage(browser);
  await signInAs(page, 'admin');
  await page.goto('/report');
  await hydrated(page);
  await page.locator('#report tbody tr').first().waitFor();
  // Patches missing on the web group's servers (none of them is silent).
  await page.getByLabel('Group').first().selectOption({ label: 'web' });
  await page.waitForFunction(() => document.querySelector('#csv')?.getAttribute('href')?.includes('group_id='));
  // The link changes before the filtered rows arrive: wait for the fetch.
  await page.waitForLoadState('networkidle');
  const rows = page.locator('#report tbody tr');
  await rows.first().waitFor();
  const chosen = [await rows.nth(0).getAttribute('data-package'), await rows.nth(1).getAttribute('data-package')];
  await rows.nth(0).locator('input[type=checkbox]').check();
  await rows.nth(1).locator('input[type=checkbox]').check();
  await page.locator('#deploy-panel').waitFor();
  assert.match(await page.locator('#deploy-panel h2').innerText(), /2 selected/);
  await page.locator('#deploy-panel').getByLabel('Target group').selectOption({ label: 'web' });
  // Installed from the next minute but one, so the page is seen queued
  // first; rebooted at the next 22:00 after that.
  const installAt = new Date(Date.now() + 120_000);
  installAt.setUTCSeconds(0, 0);
  await page.locator('#deploy-panel').getByLabel('Install at').fill(local(installAt));
  await page.locator('#deploy-panel').getByLabel('Reboot', { exact: true }).selectOption('at');
  await page.locator('#deploy-panel').getByLabel('Reboot at').fill(local(next2200(installAt)));
  await page.locator('#deploy-panel button[type=submit]').click();

  await page.waitForURL(/\/deployments\/\d+$/);
  await page.locator('#deployment tbody tr').first().waitFor();
  assert.match(await page.locator('main').innerText(), /reboot: at \d{4}-\d\d-\d\d 22:00 UTC/);
  const targets = await page.locator('#deployment tbody tr').evaluateAll((trs) =>
    trs.map((tr) => ({ server: tr.dataset.server, patches: tr.children[1].textContent })));
  assert.ok(targets.length >= 1, 'servers of the group that miss them');
  for (const t of targets) {
    assert.ok(chosen.some((c) => t.patches.includes(c)), `${t.server} gets a chosen patch`);
  }
  const states = () => page.locator('#deployment tbody tr').evaluateAll((trs) => trs.map((tr) => tr.dataset.state));
  assert.ok((await states()).every((s) => s === 'queued'), 'queued until the install time');
  assert.equal(await page.locator('#live').innerText(), 'Updating live…');
  // Then the simulated agents (checking in every 2 s) install them; the
  // page follows by itself to installed, with the reboot still pending.
  await page.waitForFunction(() => {
    const states = [...document.querySelectorAll('#deployment tbody tr')].map((tr) => tr.dataset.state);
    return states.length > 0 && states.every((s) => s === 'reboot pending');
  }, null, { timeout: 240_000 });
  assert.equal(await page.locator('#live').innerText(), 'Updating live…', 'the reboot is still to come');
  assert.deepEqual(page.errors, []);
  await page.context().close();
});
