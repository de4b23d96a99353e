// The owner's side in a real browser against the demo's simulated servers,
// with mail going to a real SMTP server (aiosmtpd, started by
// scripts/e2e.sh): an admin publishes a patch for web-01 and gives it a
// maintenance window open now (seen on the windows page's calendar); the owner installs the patch from the
// server page, books the reboot two minutes ahead, gets the booking mail,
// and, once the simulated server comes back with a new boot id, the
// "rebooted" mail. (Reminders 24 h and 1 h ahead need moved time; the
// integration tests in server/tests/mail.rs cover them.)
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { launch, newPage, hydrated, mailsTo, mailArrives, MAIL_DIR, OWNER_MAIL, signInAs, call } from './helpers.mjs';


let browser;
before(async () => { browser = await launch(); });
after(async () => { await browser?.close(); });

// A Date as a datetime-local value (UTC, as the form reads it).
const local = (d) => d.toISOString().slice(0, 16);


test('an owner installs a published patch, books the reboot and gets the mails', { skip: !MAIL_DIR && 'PATCHPORT_E2E_MAIL_DIR is not set' }, async () => {
  // The admin: publish one of web-01's missing patches, open a window now.
  const admin = await newPage(browser);
  await signInAs(admin, 'admin');
  const servers = await call(admin, 'servers/list', { filter: { search: 'web-01' }, page: 1 });
  const web01 = servers.body.items.find((s) => s.hostname === 'web-01');
  assert.ok(web01, 'web-01 exists');
  const detail = await admin.evaluate(async (id) =>
    (await fetch('/api/servers/detail', { method: 'POST', body: new URLSearchParams({ id }) })).json(), String(web01.id));
  const missing = detail.patches.find((p) => p.state === 'missing');
  assert.ok(missing, 'web-01 misses a patch');
  const published = await call(admin, 'admin/deployments/create', { request: {
    mode: 'publish', patch_ids: [missing.patch_id], server_ids: [web01.id], group_ids: [], owner_ids: [],
    hostnames: [], owners: [], install_at: '', reboot: 'none', reboot_at: '', request_key: `e2e-publish-${Date.now()}`,
  } });
  assert.equal(published.status, 200, JSON.stringify(published.body));
  const now = new Date();
  const window = await call(admin, 'admin/windows/create', {
    name: `e2e now ${now.getTime()}`,
    window: { days: [1, 2, 3, 4, 5, 6, 7], start_minute: (now.getUTCHours() * 60 + now.getUTCMinutes() + 1440 - 10) % 1440,
      duration_minutes: 180, time_zone: 'UTC' },
    group_ids: [], hostnames: ['web-01'],
  });
  assert.equal(window.status, 200, JSON.stringify(window.body));
  // The windows page's calendar shows it today (and on the other 13 days).
  await admin.goto('/windows');
  await hydrated(admin);
  const today = admin.locator('#window-calendar td.today');
  await today.locator('.slot', { hasText: `e2e now ${now.getTime()}` }).waitFor();
  assert.equal(await admin.locator('#window-calendar td').count(), 14);
  assert.deepEqual(admin.errors, []);
  await admin.context().close();
  await mailArrives(OWNER_MAIL, /published for your servers/, 30_000);

  // The owner: My servers → web-01 → install the published patch now.
  const page = await newPage(browser);
  await signInAs(page, 'owner');
  await page.goto('/servers');
  await hydrated(page);
  assert.equal(await page.locator('h1').innerText(), 'My servers');
  const row = page.locator('#servers tr[data-server="web-01"]');
  assert.match(await row.locator('td.published').innerText(), /\d+ to install/);
  // The demo's database servers have a nightly window; web-02 has none.
  assert.match(await page.locator('#servers tr[data-server="db-01"] td.window').innerText(), /^(open until )?\d{4}-\d\d-\d\d \d\d:\d\d/);
  assert.equal(await page.locator('#servers tr[data-server="web-02"] td.window').innerText(), 'none');
  await row.locator('a').first().click();
  await page.waitForURL(/\/servers\/\d+$/);
  await hydrated(page);
  // The owner's page leads with what was published for them; the full
  // list of missing patches and the installed packages are folded.
  const patch = page.locator(`#published-patches tbody tr[data-package="${missing.package}"]`);
  assert.equal(await patch.getAttribute('data-state'), 'published');
  assert.match(await page.locator('#install-published').innerText(), /^Install all published \(\d+\)$/);
  assert.equal(await page.locator('#missing-patches').getAttribute('open'), null);
  assert.equal(await page.locator('#installed-packages').getAttribute('open'), null);
  const order = await page.locator('main > section, main > details').evaluateAll((els) => els.map((e) => e.id).filter(Boolean));
  assert.deepEqual(order, ['to-install', 'reboot-booking', 'jobs-card', 'missing-patches', 'installed-packages']);
  await patch.locator('input[type=checkbox]').check();
  await page.locator('#install-selected').click();
  await page.locator('#install-queued').waitFor();
  // Next to "Install queued", the hint does not claim nothing was published.
  await page.locator('#install-toolbar .hint')
    .filter({ hasText: /queued or being installed|No published patch waits to be installed|were published for you to install/ }).waitFor();
  await page.locator('#jobs tbody tr[data-state="succeeded"]').first().waitFor({ timeout: 60_000 });

  // Book the reboot two minutes ahead, inside the window.
  const at = new Date(Date.now() + 120_000);
  at.setUTCSeconds(0, 0);
  await page.locator('#reboot-booking').getByLabel('Reboot at').fill(local(at));
  // An earlier deployment may already have booked web-01's reboot: then the
  // button moves it ("Move the reboot") and "Cancel" stands beside it.
  await page.locator('#book-reboot button[type=submit]').click();
  const bookedFor = `Reboot booked for ${at.toISOString().slice(0, 16).replace('T', ' ')}`;
  await page.locator('#booked').filter({ hasText: bookedFor }).waitFor();
  assert.equal(await page.locator('#booking-ics').getAttribute('href'), `/servers/${web01.id}/reboot.ics`);
  const subject = new RegExp(`^Reboot of web-01 booked for ${at.toISOString().slice(0, 16).replace('T', ' ')} `);
  const booked = await mailArrives(OWNER_MAIL, subject, 30_000);
  assert.match(booked.data, /servers\//, 'the mail links to the server');

  // The simulated server reboots at the booked time and comes back with a
  // new boot id; the scheduler (every minute) then mails the outcome.
  await mailArrives(OWNER_MAIL, /^web-01 rebooted$/, 240_000);
  assert.equal(mailsTo(OWNER_MAIL).filter((m) => subject.test(m.subject)).length, 1, 'one booking mail');
  assert.deepEqual(page.errors, []);
  await page.context().close();
});
