// Rollouts in bulk, in a real browser against the demo. The admin searches
// the rollouts list, ticks everything on the page, searches again and
// ticks more (the selection stays), approves them together after a
// question that names them, and reads what happened to each: the open
// rollout approved, with what its approval published where; the one
// declined beforehand refused, saying why. Filters live in the address: a
// rollout's page shows what the approval did, and Back finds the list as
// it was filtered. Without JavaScript the same list declines a ticked
// rollout through the question's own page.
//
// The rollouts acted on are open ones whose patch web-01 does not have
// (self_service.test.mjs publishes one of web-01's missing patches, which
// a declined rollout would forbid), preferably none of the demo owner's
// servers has (approving sends the owner mail that test waits for), with
// the fewest servers missing them.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { launch, newPage, hydrated, signIn, BASE, DEMO_PASSWORD } from './helpers.mjs';

let browser;
before(async () => { browser = await launch(); });
after(async () => { await browser?.close(); });

// Calls a server function with the page's session cookie: JSON, or a form.
async function api(page, endpoint, { json, form }) {
  const resp = await page.request.post(`${BASE}/api/${endpoint}`,
    { ...(json ? { data: json } : { form }), headers: { accept: 'application/json' } });
  return { status: resp.status(), body: await resp.json().catch(() => null) };
}

// Open rollouts to act on (see above), each with a package name that no
// other rollout's name contains (a search for it lists it alone); with
// `missing`, only those some server still misses (so that approving one
// sends it somewhere). Waits for the scheduler to make enough of them.
async function candidates(page, wanted, missing = false) {
  const servers = await api(page, 'servers/list', { json: { filter: {}, page: 1 } });
  const patchesOf = async (s) => (await api(page, 'servers/detail', { form: { id: String(s.id) } })).body.patches
    .map((p) => p.patch_id);
  const web01 = new Set(await patchesOf(servers.body.items.find((s) => s.hostname === 'web-01')));
  const owned = new Set();
  for (const s of servers.body.items.filter((s) => s.owner === 'owner')) {
    for (const id of await patchesOf(s)) owned.add(id);
  }
  for (let i = 0; i < 45; i += 1) {
    const all = [];
    for (let p = 1; p <= 20; p += 1) {
      const listed = await api(page, 'admin/rollouts/search', { json: { filter: {}, page: p } });
      assert.equal(listed.status, 200, JSON.stringify(listed.body));
      all.push(...listed.body.items);
      if (all.length >= listed.body.total) break;
    }
    const alone = (r) => all.filter((o) => o.package.includes(r.package)).length === 1;
    const found = all
      .filter((r) => !['approved', 'declined'].includes(r.state) && !web01.has(r.patch_id) && alone(r))
      .filter((r) => !missing || r.servers > 0)
      .sort((a, b) => owned.has(a.patch_id) - owned.has(b.patch_id) || a.servers - b.servers || a.id - b.id);
    if (found.length >= wanted) return found.slice(0, wanted);
    await new Promise((resolve) => setTimeout(resolve, 2000));
  }
  throw new Error(`fewer than ${wanted} open rollouts to act on`);
}

// Types a search into the list's filter and waits for its rows.
async function search(page, text) {
  await page.getByLabel('Search package, advisory or CVE').fill(text);
  await page.waitForURL((u) => u.searchParams.get('search') === text);
  await page.waitForFunction((text) => {
    const rows = [...document.querySelectorAll('#rollouts tbody tr')];
    return rows.length > 0 && rows.every((tr) => tr.dataset.package.includes(text));
  }, text);
}

test('the admin approves ticked rollouts together and reads what each approval did; Back keeps the filters', async () => {
  const page = await newPage(browser);
  await signIn(page, 'admin', DEMO_PASSWORD);
  await page.waitForURL((u) => u.pathname === '/');
  const [open] = await candidates(page, 1, true);
  const kept = (await candidates(page, 2)).find((r) => r.id !== open.id);
  // One of them is declined first: approving it is refused.
  const declined = await api(page, 'admin/rollouts/decide',
    { form: { id: String(kept.id), decision: 'decline', reason: 'e2e: kept back' } });
  assert.equal(declined.status, 200, JSON.stringify(declined.body));

  await page.goto('/rollouts');
  await hydrated(page);
  await page.locator('#rollouts tbody tr').first().waitFor();
  assert.equal(await page.locator('#bulk-bar').isVisible(), false, 'no bar before a row is ticked');
  // Everything on a page searched for each: the selection stays across
  // searches.
  await search(page, open.package);
  await page.getByLabel('Select all on this page').check();
  await search(page, kept.package);
  await page.getByLabel('Select all on this page').check();
  const bar = page.locator('#bulk-bar');
  await bar.waitFor();
  assert.match(await page.locator('#bulk-selection').innerText(), /^2 rollouts selected/);
  assert.equal(await bar.evaluate((el) => getComputedStyle(el).position), 'sticky');

  // The question names them; then each one's outcome.
  await bar.getByRole('button', { name: 'Approve…' }).click();
  const question = page.getByRole('alertdialog');
  assert.equal(await question.locator('#bulk-question').innerText(), 'Approve these 2 rollouts?');
  const named = await question.locator('#bulk-names li').allInnerTexts();
  assert.deepEqual(named.sort(), [`${open.package} ${open.version}`, `${kept.package} ${kept.version}`].sort());
  await question.getByRole('button', { name: 'Yes, approve 2 rollouts' }).click();
  const result = page.locator('#bulk-result');
  await result.waitFor();
  assert.match(await result.locator('h2').innerText(), /^Approve 2 rollouts: 1 approved, 1 refused$/);
  const approved = result.locator(`li[data-rollout="${open.id}"]`);
  assert.equal(await approved.getAttribute('data-outcome'), 'approved');
  const did = await approved.innerText();
  assert.match(did, /Published to the self-service portal for \d+ servers?: .+; their owners install it \(deployment #\d+\)\./, did);
  const refused = result.locator(`li[data-rollout="${kept.id}"]`);
  assert.equal(await refused.getAttribute('data-outcome'), 'refused');
  assert.match(await refused.innerText(), /refused: a rollout that is declined cannot be approved; nothing was changed\./);
  await page.waitForFunction(() => document.querySelector('#bulk-bar')?.hidden === true);
  // The deployment it made is linked.
  const deployment = await approved.locator('a[href^="/deployments/"]').getAttribute('href');
  assert.match(deployment, /^\/deployments\/\d+$/);

  // Filtered to approved rollouts, worst first: the address holds it all.
  await search(page, open.package);
  await page.getByLabel('State').selectOption('approved');
  await page.getByLabel('Order').selectOption('severity');
  await page.waitForURL((u) => u.searchParams.get('state') === 'approved' && u.searchParams.get('sort') === 'severity');
  const row = page.locator(`#rollouts tbody tr[data-rollout="${open.id}"]`);
  await row.waitFor();
  assert.equal(await row.getAttribute('data-state'), 'approved');
  const filtered = page.url();
  // The rollout's page says what its approval did.
  await row.getByRole('link', { name: `${open.package} ${open.version}` }).click();
  await page.waitForURL((u) => u.pathname === `/rollouts/${open.id}`);
  const approval = page.locator('#approval');
  await approval.waitFor();
  assert.match(await approval.innerText(), /Published to the self-service portal for/);
  assert.equal(await approval.locator(`a[href="${deployment}"]`).count(), 1);
  // Back: the list as it was filtered.
  await page.goBack();
  await page.waitForURL(filtered);
  await page.locator(`#rollouts tbody tr[data-rollout="${open.id}"]`).waitFor();
  assert.equal(await page.getByLabel('Search package, advisory or CVE').inputValue(), open.package);
  assert.equal(await page.getByLabel('State').inputValue(), 'approved');
  assert.equal(await page.getByLabel('Order').inputValue(), 'severity');
  assert.ok((await page.locator('#rollouts tbody tr').evaluateAll((trs) => trs.map((tr) => tr.dataset.state)))
    .every((s) => s === 'approved'));
  // A search nothing matches says so.
  await page.getByLabel('Search package, advisory or CVE').fill('no-such-package-e2e');
  await page.locator('#no-match').waitFor();
  assert.deepEqual(page.errors, []);
  await page.context().close();
});

test('without JavaScript: tick a rollout, answer the question on its own page, read the outcome', async () => {
  const page = await newPage(browser, { javaScriptEnabled: false });
  await page.goto('/login');
  await page.fill('input[name=username]', 'admin');
  await page.fill('input[name=password]', DEMO_PASSWORD);
  await page.click('button[type=submit]');
  await page.waitForURL((u) => u.pathname === '/');
  const [one] = await candidates(page, 1);

  // The filter form is a plain GET form.
  await page.goto('/rollouts');
  await page.locator('#rollout-filters input[name=search]').fill(one.package);
  await page.locator('#apply-rollout-filters').click();
  await page.waitForURL((u) => u.searchParams.get('search') === one.package);
  await page.locator(`#rollouts input[name="ids[]"][value="${one.id}"]`).check();
  await page.locator('#bulk-step').getByRole('button', { name: 'Decline…' }).click();
  // The question's page: the filter kept, the ticked rollout named.
  await page.waitForURL((u) => u.searchParams.get('confirm') === 'decline' && u.searchParams.get('search') === one.package);
  const question = page.getByRole('alertdialog');
  assert.equal(await question.locator('#bulk-question').innerText(), 'Decline this rollout?');
  assert.deepEqual(await question.locator('#bulk-names li').allInnerTexts(), [`${one.package} ${one.version}`]);
  await question.getByLabel('Reason (required)').fill('e2e: declined without JavaScript');
  await question.getByRole('button', { name: 'Yes, decline 1 rollout' }).click();
  // Back on the list as filtered, with the outcome.
  await page.waitForURL((u) => u.searchParams.get('decided') === 'decline' && u.searchParams.get('search') === one.package);
  const result = page.locator('#bulk-result');
  assert.match(await result.locator('h2').innerText(), /^Decline 1 rollout: 1 declined$/);
  assert.equal(await result.locator(`li[data-rollout="${one.id}"]`).getAttribute('data-outcome'), 'declined');
  assert.equal(await page.locator(`#rollouts tbody tr[data-rollout="${one.id}"]`).getAttribute('data-state'), 'declined');
  assert.equal(await page.getByRole('alertdialog').count(), 0, 'the question is closed');
  const history = await api(page, 'admin/rollouts/get', { form: { id: String(one.id) } });
  assert.equal(history.body.events.at(-1).reason, 'e2e: declined without JavaScript');
  assert.deepEqual(page.errors, []);
  await page.context().close();
});
