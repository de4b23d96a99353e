// The forms work before (and without) the WASM: with JavaScript disabled in
// the browser, an admin signs in, publishes one of db-01's missing patches
// from the Patches Missing report and lands on the deployment's page; the
// owner signs in and books db-01's reboot on its page. Each form is a plain
// form post; the server redirects to the page that shows the outcome, or
// back with the error in the query string.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { launch, newPage, BASE, DEMO_PASSWORD } from './helpers.mjs';

let browser;
before(async () => { browser = await launch(); });
after(async () => { await browser?.close(); });

// A Date as a datetime-local value (UTC, as the form reads it).
const local = (d) => d.toISOString().slice(0, 16);

// Signs in with the plain login form (no hydration to wait for).
async function signInWithoutJs(page, username) {
  await page.goto('/login');
  await page.fill('input[name=username]', username);
  await page.fill('input[name=password]', DEMO_PASSWORD);
  await page.click('button[type=submit]');
  await page.waitForURL((u) => u.pathname === '/');
}

// Calls a JSON server function with the page's cookie (setup only).
async function call(page, endpoint, body) {
  const resp = await page.request.post(`${BASE}/api/${endpoint}`, { data: body, headers: { accept: 'application/json' } });
  return { status: resp.status(), body: await resp.json().catch(() => null) };
}

test('without JavaScript: sign in, publish a patch from the report, book a reboot', async () => {
  const admin = await newPage(browser, { javaScriptEnabled: false });
  await signInWithoutJs(admin, 'admin');

  // db-01 and one of its missing patches (setup through the API).
  const servers = await call(admin, 'servers/list', { filter: { search: 'db-01' }, page: 1 });
  const db01 = servers.body.items.find((s) => s.hostname === 'db-01');
  assert.ok(db01, 'db-01 exists');
  const detail = await (await admin.request.post(`${BASE}/api/servers/detail`, { form: { id: String(db01.id) } })).json();
  const missing = detail.patches.find((p) => p.state === 'missing');
  assert.ok(missing, 'db-01 misses a patch');

  // The report, filtered by a link; tick the patch. Sent without a
  // target, the form comes back with the error shown.
  await admin.goto(`/report?search=${encodeURIComponent(missing.package)}`);
  const box = admin.locator(`#report input[name="patch_ids[]"][value="${missing.patch_id}"]`);
  await box.check();
  await admin.locator('#deploy-panel').getByLabel('Action').selectOption('publish');
  await admin.locator('#deploy-panel button[type=submit]').click();
  await admin.waitForURL((u) => u.pathname === '/report' && u.searchParams.has('__err'));
  assert.match(await admin.locator('#deploy-panel [role=alert]').innerText(), /choose the servers, groups or owners/);

  // Now for db-01: the deployment's page shows it.
  await admin.locator(`#report input[name="patch_ids[]"][value="${missing.patch_id}"]`).check();
  await admin.locator('#deploy-panel').getByLabel('Action').selectOption('publish');
  await admin.locator('#deploy-panel').getByLabel('Servers').fill('db-01');
  await admin.locator('#deploy-panel button[type=submit]').click();
  await admin.waitForURL(/\/deployments\/\d+$/);
  assert.match(await admin.locator('h1').innerText(), /^Deployment #\d+ \(publish\)$/);
  const target = admin.locator('#deployment tbody tr[data-server="db-01"]');
  assert.match(await target.innerText(), new RegExp(missing.package.replace(/[.+]/g, '\\$&')));

  // A window open now for db-01 (its nightly one may be closed).
  const now = new Date();
  const window = await call(admin, 'admin/windows/create', {
    name: `no-js now ${now.getTime()}`,
    window: { days: [1, 2, 3, 4, 5, 6, 7], start_minute: (now.getUTCHours() * 60 + now.getUTCMinutes() + 1440 - 10) % 1440,
      duration_minutes: 180, time_zone: 'UTC' },
    group_ids: [], hostnames: ['db-01'],
  });
  assert.equal(window.status, 200, JSON.stringify(window.body));
  assert.deepEqual(admin.errors, []);
  await admin.context().close();

  // The owner books db-01's reboot an hour ahead, inside that window.
  const page = await newPage(browser, { javaScriptEnabled: false });
  await signInWithoutJs(page, 'owner');
  await page.goto(`/servers/${db01.id}`);
  const booking = page.locator('#reboot-booking');
  // Sent without a time, it is refused, visibly.
  await booking.locator('button[type=submit]').click();
  await page.waitForURL((u) => u.pathname === `/servers/${db01.id}` && u.searchParams.has('__err'));
  assert.match(await page.locator('#reboot-booking [role=alert]').innerText(), /choose the reboot time/);
  // Inside it: booked, and the page says so.
  const at = new Date(now.getTime() + 3600_000);
  at.setUTCSeconds(0, 0);
  await page.locator('#reboot-booking').getByLabel('Reboot at').fill(local(at));
  await page.locator('#reboot-booking button[type=submit]').click();
  await page.waitForURL((u) => u.pathname === `/servers/${db01.id}` && !u.searchParams.has('__err'));
  const booked = await page.locator('#booked').innerText();
  assert.match(booked, /^Reboot booked for /);
  assert.ok(booked.includes(at.toISOString().slice(0, 16).replace('T', ' ')), booked);
  assert.deepEqual(page.errors, []);
  await page.context().close();
});
