// The home page says what needs doing, in a real browser against the demo:
// the admin's lists the demo's two silent servers and leads to the
// deployments list filtered by state; the owner's lists what the owner can
// act on (a patch published for one of their servers) and nothing of
// servers they do not own; `/deployments` lists a deployment and filters
// by state through the URL, with and without JavaScript.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { launch, newPage, hydrated, DEMO_PASSWORD, signInAs, call } from './helpers.mjs';

// scripts/e2e.sh keeps the demo's database next to the mail directory.
const MAIL_DIR = process.env.PATCHPORT_E2E_MAIL_DIR;
const DB = MAIL_DIR && join(dirname(MAIL_DIR), 'demo.db');
// The demo servers that report once, then stay silent.
const SILENT = ['app-04', 'backup-01'];

let browser;
before(async () => { browser = await launch(); });
after(async () => { await browser?.close(); });

// Time cannot be moved in the running demo: once the silent servers have
// reported, their last check-in is set an hour back, as if the test had
// waited that long (less than a day, so no "server silent" mail goes out).
function silenceForAnHour() {
  const script = `
import sqlite3, sys, time
db = sqlite3.connect(sys.argv[1], timeout=30)
for _ in range(120):
    n = db.execute("select count(*) from server where hostname in ('app-04', 'backup-01') and last_check_in is not null").fetchone()[0]
    if n == 2:
        break
    time.sleep(0.5)
else:
    sys.exit("the silent servers never reported")
time.sleep(1)
db.execute("update server set last_check_in = cast(strftime('%s', 'now') as integer) - 3600 where hostname in ('app-04', 'backup-01')")
db.commit()
`;
  execFileSync('python3', ['-c', script, DB], { stdio: 'pipe' });
}


async function serverNamed(page, hostname) {
  const servers = await call(page, 'servers/list', { filter: { search: hostname }, page: 1 });
  const found = servers.body.items.find((s) => s.hostname === hostname);
  assert.ok(found, `${hostname} exists`);
  const detail = await page.evaluate(async (id) =>
    (await fetch('/api/servers/detail', { method: 'POST', body: new URLSearchParams({ id }) })).json(), String(found.id));
  return { id: found.id, patches: detail.patches };
}

// Publishes or deploys one missing patch of `hostname`; returns the
// deployment's patch.
async function sendOne(page, hostname, mode, installAt = '') {
  const server = await serverNamed(page, hostname);
  const missing = server.patches.find((p) => p.state === 'missing');
  assert.ok(missing, `${hostname} misses a patch`);
  const sent = await call(page, 'admin/deployments/create', { request: {
    mode, patch_ids: [missing.patch_id], server_ids: [server.id], group_ids: [], owner_ids: [],
    hostnames: [], owners: [], install_at: installAt, reboot: 'none', reboot_at: '',
    request_key: `e2e-home-${mode}-${Date.now()}`,
  } });
  assert.equal(sent.status, 200, JSON.stringify(sent.body));
  return { server, missing };
}

test('the admin home lists the silent servers and leads to the running deployments', { skip: !(DB && existsSync(DB)) && 'the demo database is not found (PATCHPORT_E2E_MAIL_DIR)' }, async () => {
  silenceForAnHour();
  const page = await newPage(browser);
  await signInAs(page, 'admin');
  // A deployment that stays queued (running) for the whole test: build-01
  // is in no other test; a day ahead is ahead in any reader's zone.
  await page.waitForFunction(() => window.__patchportHydrated === true);
  const tomorrow = new Date(Date.now() + 86_400_000).toISOString().slice(0, 16);
  await sendOne(page, 'build-01', 'deploy', tomorrow);

  await page.goto('/');
  await hydrated(page);
  const silent = page.locator('#todo-silent');
  await silent.waitFor();
  for (const host of SILENT) {
    const link = silent.locator(`li[data-server="${host}"] a`);
    await link.waitFor();
    assert.match(await link.getAttribute('href'), /^\/servers\/\d+$/, `${host} links to its page`);
  }
  assert.ok(Number(await silent.getAttribute('data-count')) >= 2);
  assert.match(await silent.locator('h3').innerText(), /servers silent for more than 10 minutes/);
  // Every item is there, with its count or its empty state.
  for (const key of ['approval', 'test-failed', 'deployments-failed', 'deployments-running', 'deadlines-missed', 'deadlines-soon', 'kev']) {
    const item = page.locator(`#todo-${key}`);
    await item.waitFor();
    if (await item.getAttribute('data-count') === '0') {
      assert.ok(await item.locator('.empty').count() === 1, `${key} says nothing waits`);
    }
  }
  assert.match(await page.locator('#todo-approval').innerText(), /Nothing waits for approval|observed until/);
  assert.match(await page.locator('#todo-kev h3').innerText(), /more than 7 days/);
  // The morning look stays below.
  await page.locator('#morning').waitFor();

  // The running deployment, and the link to the filtered list.
  const running = page.locator('#todo-deployments-running');
  assert.ok(Number(await running.getAttribute('data-count')) >= 1);
  await running.locator('a.more').click();
  await page.waitForURL((u) => u.pathname === '/deployments' && u.searchParams.get('state') === 'running');
  const rows = page.locator('#deployments tbody tr');
  await rows.first().waitFor();
  const states = await rows.evaluateAll((trs) => trs.map((tr) => tr.dataset.state));
  assert.ok(states.length >= 1 && states.every((s) => s === 'running'), `only running: ${states}`);
  assert.equal(await page.locator('#deployment-filters select[name=state]').inputValue(), 'running');
  assert.deepEqual(page.errors, []);
  await page.context().close();
});

test('the owner home shows what the owner can act on, on their own servers only', async () => {
  const admin = await newPage(browser);
  await signInAs(admin, 'admin');
  await hydrated(admin);
  // web-02 is the demo owner's.
  const { server } = await sendOne(admin, 'web-02', 'publish');
  await admin.context().close();

  const page = await newPage(browser);
  await signInAs(page, 'owner');
  await hydrated(page);
  const published = page.locator('#todo-published');
  await published.waitFor();
  const link = published.locator('li[data-server="web-02"] a');
  await link.waitFor();
  assert.equal(await link.getAttribute('href'), `/servers/${server.id}#to-install`);
  assert.match(await published.locator('li[data-server="web-02"]').innerText(), /\d+ patches to install/);
  for (const key of ['reboots', 'next-reboot', 'changes']) {
    await page.locator(`#todo-${key}`).waitFor();
  }
  assert.match(await page.locator('#todo-changes h3').innerText(), /changes (since your last sign-in|in the last week)/);
  // Nothing of the admin's, nothing of servers the owner does not own.
  assert.equal(await page.locator('#todo-silent').count(), 0);
  const text = await page.locator('#todo').innerText();
  for (const host of [...SILENT, 'build-01', 'canary-01']) {
    assert.ok(!text.includes(host), `the owner's home names ${host}`);
  }
  await link.click();
  await page.waitForURL((u) => u.pathname === `/servers/${server.id}`);
  // The owner's page leads with what was published for them.
  await page.locator('#published-patches').waitFor();
  assert.deepEqual(page.errors, []);
  // The deployments list is for admins (the browser logs the 403).
  const resp = await page.goto('/deployments');
  assert.equal(resp.status(), 403);
  await page.context().close();
});

test('/deployments lists deployments and filters by state through the URL', async () => {
  const page = await newPage(browser);
  await signInAs(page, 'admin');
  await page.goto('/deployments');
  await hydrated(page);
  const rows = page.locator('#deployments tbody tr');
  await rows.first().waitFor();
  const all = await rows.evaluateAll((trs) => trs.map((tr) => ({ id: tr.dataset.deployment, state: tr.dataset.state })));
  assert.ok(all.length >= 1, 'the deployments of the tests above');
  const ids = all.map((d) => Number(d.id));
  assert.deepEqual(ids, [...ids].sort((a, b) => b - a), 'newest first');
  assert.match(await rows.first().locator('a').first().getAttribute('href'), /^\/deployments\/\d+$/);

  // The filter form puts the state into the URL.
  await page.locator('#deployment-filters select[name=state]').selectOption('finished');
  await page.locator('#deployment-filters button[type=submit]').click();
  await page.waitForURL((u) => u.searchParams.get('state') === 'finished');
  await page.locator('#deployments, .empty').first().waitFor();
  const finished = await page.locator('#deployments tbody tr').evaluateAll((trs) => trs.map((tr) => tr.dataset.state));
  assert.ok(finished.every((s) => s === 'finished'), `only finished: ${finished}`);
  assert.ok(finished.length >= 1, 'the publication for web-02 is finished');

  // A filter that matches nothing says so.
  await page.goto('/deployments?state=failed&search=no-such-package');
  await hydrated(page);
  assert.match(await page.locator('.empty').innerText(), /No deployment matches this filter/);
  assert.deepEqual(page.errors, []);
  await page.context().close();

  // Without JavaScript the server renders the filtered list.
  const plain = await newPage(browser, { javaScriptEnabled: false });
  await plain.goto('/login');
  await plain.fill('input[name=username]', 'admin');
  await plain.fill('input[name=password]', DEMO_PASSWORD);
  await plain.click('button[type=submit]');
  await plain.waitForURL((u) => u.pathname === '/');
  await plain.goto('/deployments?state=finished');
  const plainStates = await plain.locator('#deployments tbody tr').evaluateAll((trs) => trs.map((tr) => tr.dataset.state));
  assert.ok(plainStates.length >= 1 && plainStates.every((s) => s === 'finished'), `server-rendered: ${plainStates}`);
  assert.equal(await plain.locator('#deployment-filters select[name=state]').inputValue(), 'finished');
  await plain.context().close();
});
