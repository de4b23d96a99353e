// The forms work before (and without) the WASM: with JavaScript disabled in
// the browser, an admin signs in, publishes one of db-01's missing patches
// from the Patches Missing report and lands on the deployment's page; the
// owner signs in, books db-01's reboot on its page and cancels it again.
// An admin saves mail preferences, creates and deletes a maintenance window,
// saves the reboot rules, adds a rollout policy, starts to decline a
// rollout, disables a user and resets their password, marks the test group,
// deletes a group and cancels a job. Each form is a plain form post; the
// server redirects to the page that shows the outcome (`?done=…` where the
// page itself would not), or back with the error in the query string. What
// asks first (deleting, disabling, a decision) asks on a second page
// (`?confirm=…`). The last test runs the same forms with JavaScript: they
// still answer in place, without a reload.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { launch, newPage, hydrated, BASE, DEMO_PASSWORD, signInAs, call } from './helpers.mjs';

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
  // Cancelled again: back on the page, which says so.
  await booking.getByRole('button', { name: 'Cancel the booked reboot' }).click();
  await page.locator('#booked').filter({ hasText: 'No reboot booked.' }).waitFor();
  assert.equal(new URL(page.url()).pathname, `/servers/${db01.id}`);
  assert.ok(!new URL(page.url()).searchParams.has('__err'), page.url());
  assert.equal(await booking.getByRole('button', { name: 'Cancel the booked reboot' }).count(), 0);
  assert.deepEqual(page.errors, []);
  await page.context().close();
});

// An open rollout (the scheduler makes them from the demo's patches).
async function openRollout(page) {
  for (let i = 0; i < 45; i += 1) {
    const resp = await page.request.post(`${BASE}/api/admin/rollouts/list`, { form: { state: '', page: '1' } });
    const found = (await resp.json()).items?.find((r) => !['approved', 'declined'].includes(r.state));
    if (found) return found;
    await new Promise((resolve) => setTimeout(resolve, 2000));
  }
  throw new Error('no open rollout');
}

// Waits until the page's address is `path` with `test(searchParams)`.
const landedOn = (page, path, test = () => true) =>
  page.waitForURL((u) => u.pathname === path && test(u.searchParams));

test('without JavaScript: mail preferences, a maintenance window, reboot rules, a policy, a decision', async () => {
  const admin = await newPage(browser, { javaScriptEnabled: false });
  await signInWithoutJs(admin, 'admin');
  const stamp = Date.now();

  // Mail preferences: switch the last kind off; the page shows it off and
  // says how many are on. Then switch it on again.
  await admin.goto('/account');
  const prefs = admin.locator('#mail-preferences');
  const boxes = prefs.locator('input[name="on[]"]');
  const kinds = await boxes.count();
  assert.ok(kinds >= 2, `${kinds} kinds of mail`);
  const last = boxes.nth(kinds - 1);
  const kind = await last.getAttribute('value');
  assert.equal(await last.isChecked(), true, 'every kind is on at first');
  await last.uncheck();
  await prefs.locator('button[type=submit]').click();
  await landedOn(admin, '/account', (q) => q.get('done') === 'mail-preferences');
  assert.equal(await prefs.getByRole('status').innerText(), `Saved: you get ${kinds - 1} of ${kinds} kinds of mail.`);
  assert.equal(await prefs.locator(`input[value="${kind}"]`).isChecked(), false);
  await prefs.locator(`input[value="${kind}"]`).check();
  await prefs.locator('button[type=submit]').click();
  await admin.waitForLoadState();
  await prefs.getByRole('status').filter({ hasText: `Saved: you get ${kinds} of ${kinds} kinds of mail.` }).waitFor();
  assert.equal(await prefs.locator(`input[value="${kind}"]`).isChecked(), true);

  // A maintenance window: without a day it is refused, visibly; with
  // Tuesday and Thursday it is listed.
  await admin.goto('/windows');
  const form = admin.locator('#new-window');
  const name = `no-js window ${stamp}`;
  await form.getByLabel('Window name').fill(name);
  await form.locator('button[type=submit]').click();
  await landedOn(admin, '/windows', (q) => q.has('__err'));
  assert.match(await admin.locator('#new-window ~ [role=alert]').innerText(), /choose at least one day/);
  await form.getByLabel('Window name').fill(name);
  await form.getByLabel('Tue').check();
  await form.getByLabel('Thu').check();
  await form.getByLabel('Start time').fill('03:00');
  await form.getByLabel('Duration in hours').fill('2');
  await form.getByLabel('Time zone').fill('Europe/Berlin');
  await form.locator('button[type=submit]').click();
  await landedOn(admin, '/windows', (q) => !q.has('__err'));
  const row = admin.locator(`#windows tr[data-window="${name}"]`);
  assert.match(await row.innerText(), /Tue, Thu 03:00.*Europe\/Berlin/);

  // Deleting it asks first: the question is a page of its own.
  await row.getByRole('button', { name: 'Delete' }).click();
  await landedOn(admin, '/windows', (q) => (q.get('confirm') ?? '').startsWith('delete-window-'));
  const question = row.getByRole('alertdialog');
  assert.match(await question.innerText(), new RegExp(`Delete window ${name}\\?`));
  await question.getByRole('button', { name: 'Delete' }).click();
  await landedOn(admin, '/windows', (q) => !q.has('confirm'));
  assert.equal(await admin.locator(`#windows tr[data-window="${name}"]`).count(), 0);

  // The reboot rules, saved as they are.
  const rules = admin.locator('#reboot-rules');
  const moves = await rules.locator('input[name=max_deferrals]').inputValue();
  assert.match(moves, /^\d+$/);
  await rules.locator('button[type=submit]').click();
  await landedOn(admin, '/windows', (q) => q.get('done') === 'reboot-rules');
  assert.match(await rules.getByRole('status').innerText(), /^Saved\. New deadlines follow these rules/);
  assert.equal(await rules.locator('input[name=max_deferrals]').inputValue(), moves);

  // A new rollout policy: a bad pattern is refused, visibly; then it is
  // added, switched off, and shows as saved.
  await admin.goto('/policies');
  const policy = `no-js policy ${stamp}`;
  const fresh = () => admin.locator('form.policy').last();
  await fresh().locator('input[name=name]').fill(policy);
  await fresh().locator('textarea[name=include]').fill('not a pattern!');
  await fresh().locator('button[type=submit]').click();
  await landedOn(admin, '/policies', (q) => q.has('__err'));
  assert.match(await admin.getByRole('alert').innerText(), /package pattern "not a pattern!"/);
  await fresh().locator('input[name=name]').fill(policy);
  await fresh().locator('input[name=enabled]').uncheck();
  await fresh().locator('textarea[name=include]').fill('no-js-probe-*\nno-js-other');
  await fresh().getByLabel('Observation days').fill('14');
  await fresh().locator('button[type=submit]').click();
  await landedOn(admin, '/policies', (q) => !q.has('__err'));
  const saved = admin.locator(`form.policy[data-policy="${policy}"]`);
  assert.equal(await saved.locator('legend').innerText(), policy);
  assert.equal(await saved.locator('input[name=enabled]').isChecked(), false);
  assert.equal(await saved.locator('input[name=security_only]').isChecked(), true, 'the default stays');
  assert.equal(await saved.getByLabel('Observation days').inputValue(), '14');
  assert.equal(await saved.locator('textarea[name=include]').inputValue(), 'no-js-probe-*\nno-js-other');
  assert.match(await saved.locator('small').innerText(), /^changed /);

  // A rollout's decline asks first and needs a reason. The question keeps
  // the reason typed; sent without one, the decline is refused with the
  // question still open; Cancel closes it.
  const rollout = await openRollout(admin);
  await admin.goto(`/rollouts/${rollout.id}`);
  const decisions = admin.locator('#decisions');
  await decisions.getByLabel('Reason').fill('kept across the step');
  await decisions.getByRole('button', { name: 'Decline' }).click();
  await landedOn(admin, `/rollouts/${rollout.id}`, (q) => q.get('confirm') === 'decline');
  assert.equal(await decisions.getByLabel('Reason').inputValue(), 'kept across the step');
  assert.match(await decisions.getByRole('alertdialog').innerText(), /Decline this patch\?/);
  await decisions.getByRole('alertdialog').getByRole('button', { name: 'Cancel' }).click();
  await landedOn(admin, `/rollouts/${rollout.id}`, (q) => !q.has('confirm'));
  await decisions.getByRole('button', { name: 'Decline' }).click();
  await landedOn(admin, `/rollouts/${rollout.id}`, (q) => q.get('confirm') === 'decline');
  await decisions.getByRole('alertdialog').getByRole('button', { name: 'Yes, decline' }).click();
  await landedOn(admin, `/rollouts/${rollout.id}`, (q) => q.has('__err'));
  assert.match(await admin.getByRole('alert').innerText(), /say why the patch is declined/);
  assert.equal(await decisions.getByRole('alertdialog').count(), 1, 'the question is still open');
  await decisions.getByRole('alertdialog').getByRole('button', { name: 'Cancel' }).click();
  await landedOn(admin, `/rollouts/${rollout.id}`, (q) => !q.has('confirm') && !q.has('__err'));
  assert.equal(await decisions.getByRole('button', { name: 'Decline' }).count(), 1);

  assert.deepEqual(admin.errors, []);
  await admin.context().close();
});

test('without JavaScript: disable a user and reset their password, each asked first', async () => {
  const admin = await newPage(browser, { javaScriptEnabled: false });
  await signInWithoutJs(admin, 'admin');
  const user = `a-nojs-${Date.now()}`;
  await admin.goto('/admin/users');
  const create = admin.locator('#create-user');
  await create.locator('input[name=username]').fill(user);
  await create.locator('input[name=password]').fill('Kx7-no-js-Quartz-91');
  await create.locator('button[type=submit]').click();
  await landedOn(admin, '/admin/users', (q) => !q.has('__err'));
  const row = admin.locator(`#users tr[data-user="${user}"]`);
  assert.match(await row.innerText(), /active/);

  // Disable: the question first, then the row says so.
  await row.getByRole('button', { name: 'Disable' }).click();
  await landedOn(admin, '/admin/users', (q) => (q.get('confirm') ?? '').startsWith('disable-'));
  assert.match(await row.getByRole('alertdialog').innerText(), new RegExp(`Disable ${user}\\? Their sessions end now\\.`));
  // Cancel closes it, and nothing changed.
  await row.getByRole('alertdialog').getByRole('button', { name: 'Cancel' }).click();
  await landedOn(admin, '/admin/users', (q) => !q.has('confirm'));
  assert.equal(await row.getByRole('alertdialog').count(), 0);
  assert.match(await row.innerText(), /active/);
  await row.getByRole('button', { name: 'Disable' }).click();
  await row.getByRole('alertdialog').getByRole('button', { name: 'Confirm' }).click();
  await landedOn(admin, '/admin/users', (q) => !q.has('confirm') && !q.has('__err'));
  assert.match(await row.locator('td').nth(4).innerText(), /^disabled$/);
  assert.equal(await row.getByRole('button', { name: 'Enable' }).count(), 1);

  // Reset the password: a too short one is refused, visibly; then done.
  await row.getByRole('button', { name: 'Reset password' }).click();
  await landedOn(admin, '/admin/users', (q) => (q.get('confirm') ?? '').startsWith('reset-'));
  // The browser itself refuses fewer than 10 characters; the server's own
  // rules refuse this one.
  await row.getByLabel('New password').fill('aaaaaaaaaa');
  await row.getByRole('button', { name: 'Set password' }).click();
  await landedOn(admin, '/admin/users', (q) => q.has('__err'));
  assert.match(await admin.getByRole('alert').innerText(), /too easy to guess|leaked/);
  await row.getByLabel('New password').fill('Plum-9-tandem-Vortex');
  await row.getByRole('button', { name: 'Set password' }).click();
  await landedOn(admin, '/admin/users', (q) => q.get('done') === 'password-reset');
  assert.equal(await admin.getByRole('status').innerText(), "Password reset. The user's sessions were ended.");
  assert.equal(await row.getByLabel('New password').count(), 0, 'the form is closed');

  assert.deepEqual(admin.errors, []);
  await admin.context().close();
});

test('without JavaScript: groups (test group, delete) and cancelling a job', async () => {
  const admin = await newPage(browser, { javaScriptEnabled: false });
  await signInWithoutJs(admin, 'admin');
  const name = `no-js group ${Date.now()}`;
  await admin.goto('/servers');
  await admin.locator('#create-group input[name=name]').fill(name);
  await admin.locator('#create-group button[type=submit]').click();
  const mine = admin.locator(`#groups tr[data-group="${name}"]`);
  await mine.waitFor();
  // The test group: made this one, then given back.
  const testGroup = async () => admin.locator('#groups tr', { has: admin.locator('.badge.test') }).getAttribute('data-group');
  const before = await admin.locator('#groups tr', { has: admin.locator('.badge.test') }).count() ? await testGroup() : null;
  await mine.getByRole('button', { name: 'Make test group' }).click();
  await admin.waitForLoadState();
  await mine.locator('.badge.test').waitFor();
  assert.equal(await testGroup(), name);
  if (before) {
    await admin.locator(`#groups tr[data-group="${before}"]`).getByRole('button', { name: 'Make test group' }).click();
    await admin.locator(`#groups tr[data-group="${before}"] .badge.test`).waitFor();
  } else {
    await mine.getByRole('button', { name: 'Unmark' }).click();
    await mine.getByRole('button', { name: 'Make test group' }).waitFor();
  }
  assert.equal(await mine.locator('.badge.test').count(), 0);
  // Deleting asks first.
  await mine.getByRole('button', { name: 'Delete' }).click();
  await landedOn(admin, '/servers', (q) => (q.get('confirm') ?? '').startsWith('delete-group-'));
  assert.match(await mine.getByRole('alertdialog').innerText(), /Delete group .*\? Its 0 servers stay\./);
  await mine.getByRole('alertdialog').getByRole('button', { name: 'Delete' }).click();
  await landedOn(admin, '/servers', (q) => !q.has('confirm') && !q.has('__err'));
  assert.equal(await admin.locator(`#groups tr[data-group="${name}"]`).count(), 0);

  // A refresh queued for tomorrow on db-01, cancelled on its page.
  const servers = await call(admin, 'servers/list', { filter: { search: 'db-01' }, page: 1 });
  const db01 = servers.body.items.find((s) => s.hostname === 'db-01');
  const tomorrow = new Date(Date.now() + 86_400_000);
  const queued = await call(admin, 'admin/jobs/queue', { server_id: db01.id, kind: 'refresh', patch_ids: [], start_at: local(tomorrow), window_hours: 2 });
  assert.equal(queued.status, 200, JSON.stringify(queued.body));
  await admin.goto(`/servers/${db01.id}`);
  const job = admin.locator(`#jobs tr[data-job="${queued.body}"]`);
  assert.equal(await job.getAttribute('data-state'), 'queued');
  await job.getByRole('button', { name: 'Cancel' }).click();
  await admin.locator(`#jobs tr[data-job="${queued.body}"][data-state="cancelled"]`).waitFor();
  assert.equal(await job.getByRole('button', { name: 'Cancel' }).count(), 0);
  assert.deepEqual(admin.errors, []);
  await admin.context().close();
});

// The same forms with JavaScript: they answer in place, as before.
test('with JavaScript the converted forms still answer without a reload', async () => {
  const page = await newPage(browser);
  await signInAs(page, 'admin');
  const stamp = Date.now();
  // Each page hydrated, then marked: a reload would drop the mark. The
  // cards inside a Transition hydrate a moment after the page's mark: a
  // form sent before that is posted by the browser itself (and works, with
  // a reload), so wait for the page to settle.
  const open = async (path) => {
    await page.goto(path);
    await hydrated(page);
    await page.waitForLoadState('networkidle');
    await page.evaluate(() => { window.__noReload = true; });
  };
  const notReloaded = async () => {
    assert.equal(await page.evaluate(() => window.__noReload), true, 'the page was not reloaded');
    assert.equal(new URL(page.url()).search, '', 'no step or outcome in the address');
  };

  await open('/account');
  const prefs = page.locator('#mail-preferences');
  const boxes = prefs.locator('input[name="on[]"]');
  const all = await boxes.evaluateAll((els) => els.map((e) => e.value));
  await boxes.nth(all.length - 1).uncheck();
  await prefs.locator('button[type=submit]').click();
  await prefs.getByRole('status').filter({ hasText: `Saved: you get ${all.length - 1} of ${all.length} kinds of mail.` }).waitFor();
  await notReloaded();
  const restored = await page.request.post(`${BASE}/api/mail/preferences/save`, { data: { on: all }, headers: { accept: 'application/json' } });
  assert.equal(restored.status(), 200);

  await open('/windows');
  const form = page.locator('#new-window');
  const name = `js window ${stamp}`;
  await form.getByLabel('Window name').fill(name);
  await form.getByLabel('Wed').check();
  await form.getByLabel('Start time').fill('04:00');
  await form.getByLabel('Duration in hours').fill('1');
  await form.locator('button[type=submit]').click();
  const row = page.locator(`#windows tr[data-window="${name}"]`);
  await row.waitFor();
  assert.match(await row.innerText(), /Wed 04:00.*UTC/);
  await row.getByRole('button', { name: 'Delete' }).click();
  await row.getByRole('alertdialog').getByRole('button', { name: 'Delete' }).click();
  await row.waitFor({ state: 'detached' });
  const rules = page.locator('#reboot-rules');
  await rules.locator('button[type=submit]').click();
  await rules.getByRole('status').filter({ hasText: /^Saved\. New deadlines/ }).waitFor();
  await notReloaded();

  await open('/policies');
  const policy = `js policy ${stamp}`;
  const fresh = page.locator('form.policy').last();
  await fresh.locator('input[name=name]').fill(policy);
  await fresh.locator('input[name=enabled]').uncheck();
  await fresh.locator('button[type=submit]').click();
  await page.locator(`form.policy[data-policy="${policy}"] legend`, { hasText: policy }).waitFor();
  assert.equal(await page.locator(`form.policy[data-policy="${policy}"] input[name=enabled]`).isChecked(), false);
  await notReloaded();

  await open('/admin/users');
  const user = `a-js-${stamp}`;
  const create = page.locator('#create-user');
  await create.locator('input[name=username]').fill(user);
  await create.locator('input[name=password]').fill('Kx7-js-Quartz-91');
  await create.locator('button[type=submit]').click();
  const userRow = page.locator(`#users tr[data-user="${user}"]`);
  await userRow.waitFor();
  await userRow.getByRole('button', { name: 'Disable' }).click();
  await userRow.getByRole('alertdialog').getByRole('button', { name: 'Confirm' }).click();
  await userRow.locator('td').nth(4).filter({ hasText: /^disabled$/ }).waitFor();
  await userRow.getByRole('button', { name: 'Reset password' }).click();
  await userRow.getByLabel('New password').fill('Plum-9-tandem-Vortex');
  await userRow.getByRole('button', { name: 'Set password' }).click();
  await page.getByRole('status').filter({ hasText: "Password reset. The user's sessions were ended." }).waitFor();
  assert.equal(await userRow.getByLabel('New password').count(), 0, 'the form closed');
  await notReloaded();

  const rollout = await openRollout(page);
  await open(`/rollouts/${rollout.id}`);
  const decisions = page.locator('#decisions');
  // Enter in the reason decides nothing, as before.
  await decisions.getByLabel('Reason').press('Enter');
  await page.waitForTimeout(300);
  assert.equal(await decisions.getByRole('alertdialog').count(), 0);
  await decisions.getByRole('button', { name: 'Decline' }).click();
  assert.match(await decisions.getByRole('alertdialog').innerText(), /Decline this patch\?/);
  await decisions.getByLabel('Reason').press('Enter');
  await page.waitForTimeout(300);
  assert.equal(await decisions.getByRole('alertdialog').count(), 1, 'still asking');
  await decisions.getByRole('alertdialog').getByRole('button', { name: 'Yes, decline' }).click();
  await page.getByRole('alert').filter({ hasText: 'say why the patch is declined' }).waitFor();
  assert.equal(await decisions.getByRole('alertdialog').count(), 0, 'the question closed');
  await notReloaded();

  assert.deepEqual(page.errors.filter((e) => !e.includes('422')), []);
  await page.context().close();
});
