// Editing a maintenance window, with and without JavaScript. With it, the
// edit form opens in place; a change that would leave the owner's booked
// reboot of web-02 outside every window is refused, naming it; asked to,
// the change cancels the booking, and the owner, who had the booking mail,
// gets one saying it was cancelled and why, with the calendar entry that
// removes it. Without JavaScript the form is a page of its own
// (`?confirm=edit-window-<id>`), a bad value comes back with the error and
// the form still open (filled as stored), and a good one is saved
// (`?done=window-saved`).
// Each test deletes its window again, so later tests see the demo as it was.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { launch, newPage, hydrated, BASE, DEMO_PASSWORD, signInAs, call, mailArrives, MAIL_DIR, OWNER_MAIL } from './helpers.mjs';

let browser;
before(async () => { browser = await launch(); });
after(async () => { await browser?.close(); });

// A Date as a datetime-local value (UTC, as the demo owner reads it).
const local = (d) => d.toISOString().slice(0, 16);

// A daily UTC window for `hosts`, opened ten minutes ago, three hours long.
async function windowNow(admin, name, hosts) {
  const now = new Date();
  const resp = await call(admin, 'admin/windows/create', {
    name,
    window: { days: [1, 2, 3, 4, 5, 6, 7], start_minute: (now.getUTCHours() * 60 + now.getUTCMinutes() + 1440 - 10) % 1440,
      duration_minutes: 180, time_zone: 'UTC' },
    group_ids: [], hostnames: hosts,
  });
  assert.equal(resp.status, 200, JSON.stringify(resp.body));
  return resp.body;
}

// A URL-encoded server function, called with the page's session cookie.
async function post(page, endpoint, form) {
  const resp = await page.request.post(`${BASE}/api/${endpoint}`, { form, headers: { accept: 'application/json' } });
  return { status: resp.status(), body: await resp.json().catch(() => null) };
}

test('with JavaScript: an edit that strands a booking is refused, then cancels it and tells the owner', async () => {
  const admin = await newPage(browser);
  await signInAs(admin, 'admin');
  const stamp = Date.now();
  const name = `edit js ${stamp}`;
  const id = await windowNow(admin, name, ['web-02']);
  const owner = await newPage(browser);
  try {
    await signInAs(owner, 'owner');
    const servers = await call(owner, 'servers/list', { filter: { search: 'web-02' }, page: 1 });
    const web02 = servers.body.items.find((s) => s.hostname === 'web-02');
    assert.ok(web02, 'the owner has web-02');
    const at = new Date(Date.now() + 3600_000);
    at.setUTCSeconds(0, 0);
    const booked = await post(owner, 'servers/book_reboot', { server_id: String(web02.id), at: local(at) });
    assert.equal(booked.status, 200, JSON.stringify(booked.body));
    const bookedFor = at.toISOString().slice(0, 16).replace('T', ' ');
    if (MAIL_DIR) await mailArrives(OWNER_MAIL, new RegExp(`^Reboot of web-02 booked for ${bookedFor} `), 30_000);

    await admin.goto('/windows');
    await hydrated(admin);
    await admin.waitForLoadState('networkidle');
    await admin.evaluate(() => { window.__noReload = true; });
    const row = admin.locator(`#windows tr[data-window="${name}"]`);
    await row.getByRole('button', { name: 'Edit' }).click();
    const card = admin.locator('#edit-window');
    await card.getByRole('heading', { name: `Edit window ${name}` }).waitFor();
    assert.equal(await card.getByLabel('Window name').inputValue(), name);
    assert.equal(await card.getByLabel('Duration in hours').inputValue(), '3');

    // Four hours later: the booking an hour ahead falls outside.
    const later = new Date(Date.now() + 4 * 3600_000);
    const start = later.toISOString().slice(11, 16);
    await card.getByLabel('Start time').fill(start);
    await card.getByRole('button', { name: 'Save window' }).click();
    const refusal = card.getByRole('alert');
    await refusal.waitFor();
    assert.match(await refusal.innerText(), new RegExp(`Not saved: .*web-02 at ${bookedFor} UTC`));
    assert.match(await row.innerText(), new RegExp(name), 'unchanged');

    await card.getByLabel(/Cancel booked reboots this leaves outside every window/).check();
    await card.getByRole('button', { name: 'Save window' }).click();
    const saved = admin.locator('#window-saved');
    await saved.waitFor();
    assert.match(await saved.innerText(), new RegExp(`^Saved window ${name}\\. Cancelled, and their owners will be mailed: web-02 at ${bookedFor} UTC\\.$`));
    await card.waitFor({ state: 'detached' });
    await row.filter({ hasText: `${start}–` }).waitFor();
    assert.equal(await admin.evaluate(() => window.__noReload), true, 'the page was not reloaded');
    assert.equal(new URL(admin.url()).search, '');
    const plan = await post(owner, 'servers/reboot_plan', { server_id: String(web02.id) });
    assert.equal(plan.body.booked, null, 'the booking was cancelled');

    if (MAIL_DIR) {
      const mail = await mailArrives(OWNER_MAIL, new RegExp(`^Reboot of web-02 on ${bookedFor} UTC cancelled$`), 30_000);
      const text = mail.data.replace(/=\r?\n/g, '');
      assert.match(text, /because an admin changed its maintenance windows/);
      assert.match(text, /Content-Type: text\/calendar; charset=utf-8; method=CANCEL/);
      assert.match(text, /METHOD:CANCEL/);
    }
    // The refused save answered 422, which the browser logs; nothing else.
    assert.deepEqual(admin.errors.filter((e) => !/status of 422/.test(e)), []);
  } finally {
    const gone = await post(admin, 'admin/windows/delete', { id: String(id), cancel_bookings: 'true' });
    assert.equal(gone.status, 200, JSON.stringify(gone.body));
    await owner.context().close();
    await admin.context().close();
  }
});

test('without JavaScript: the edit form is a page of its own, with errors and the outcome', async () => {
  const admin = await newPage(browser, { javaScriptEnabled: false });
  await admin.goto('/login');
  await admin.fill('input[name=username]', 'admin');
  await admin.fill('input[name=password]', DEMO_PASSWORD);
  await admin.click('button[type=submit]');
  await admin.waitForURL((u) => u.pathname === '/');
  const name = `edit no-js ${Date.now()}`;
  const id = await windowNow(admin, name, []);
  try {
    await admin.goto('/windows');
    await admin.locator(`#windows tr[data-window="${name}"]`).getByRole('button', { name: 'Edit' }).click();
    await admin.waitForURL((u) => u.pathname === '/windows' && u.searchParams.get('confirm') === `edit-window-${id}`);
    const card = admin.locator('#edit-window');
    assert.equal(await card.getByLabel('Window name').inputValue(), name);

    // No day: refused, visibly, with the form still open.
    for (const day of ['Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat', 'Sun']) await card.getByLabel(day, { exact: true }).uncheck();
    await card.getByRole('button', { name: 'Save window' }).click();
    await admin.waitForURL((u) => u.pathname === '/windows' && u.searchParams.has('__err'));
    assert.match(await card.getByRole('alert').innerText(), /choose at least one day/);

    // The form shows the window as stored again.
    assert.equal(await card.getByLabel('Mon', { exact: true }).isChecked(), true);
    await card.getByLabel('Window name').fill(`${name} renamed`);
    for (const day of ['Mon', 'Wed', 'Thu', 'Fri', 'Sat', 'Sun']) await card.getByLabel(day, { exact: true }).uncheck();
    await card.getByLabel('Start time').fill('05:00');
    await card.getByLabel('Duration in hours').fill('2');
    await card.getByRole('button', { name: 'Save window' }).click();
    await admin.waitForURL((u) => u.pathname === '/windows' && u.searchParams.get('done') === 'window-saved'
      && !u.searchParams.has('confirm') && !u.searchParams.has('__err'));
    assert.equal(await admin.locator('#window-saved').innerText(), 'Saved.');
    assert.equal(await admin.locator('#edit-window').count(), 0, 'the form closed');
    const row = admin.locator(`#windows tr[data-window="${name} renamed"]`);
    assert.match(await row.innerText(), /Tue 05:00–07:00 UTC \(2 h\)/);
    assert.deepEqual(admin.errors, []);
  } finally {
    const gone = await post(admin, 'admin/windows/delete', { id: String(id), cancel_bookings: 'true' });
    assert.equal(gone.status, 200, JSON.stringify(gone.body));
    await admin.context().close();
  }
});
