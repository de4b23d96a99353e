// Rolling a deployment back, in a real browser against the demo. The admin
// deploys one of build-01's missing patches (build-01 has no owner, so no
// owner mail is involved), opens the deployment's page, waits for the
// simulated server to install it, asks for the rollback on its row, is
// asked first, confirms, and sees the rollback queued and then succeeded
// beside the install; the server's next report shows the patch missing
// again. The patch is one web-01 also misses, which rollouts_bulk leaves
// alone (it never declines a patch web-01 has).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { launch, newPage, hydrated, signInAs, call } from './helpers.mjs';

let browser;
before(async () => { browser = await launch(); });
after(async () => { await browser?.close(); });

async function patchesOf(page, id) {
  const resp = await page.request.post('/api/servers/detail', { form: { id: String(id) }, headers: { accept: 'application/json' } });
  return (await resp.json()).patches;
}

test('an admin rolls a deployment back on a server and the patch is missing again', async () => {
  const page = await newPage(browser);
  await signInAs(page, 'admin');
  const servers = await call(page, 'servers/list', { filter: {}, page: 1 });
  assert.equal(servers.status, 200, JSON.stringify(servers.body));
  const server = (name) => servers.body.items.find((s) => s.hostname === name);
  const build01 = server('build-01');
  const web01 = new Set((await patchesOf(page, server('web-01').id)).filter((p) => p.state === 'missing').map((p) => p.patch_id));
  const patch = (await patchesOf(page, build01.id)).find((p) => p.state === 'missing' && web01.has(p.patch_id));
  assert.ok(patch, 'build-01 misses a patch web-01 misses too');
  const created = await call(page, 'admin/deployments/create', { request: {
    mode: 'deploy', patch_ids: [patch.patch_id], server_ids: [build01.id], group_ids: [], owner_ids: [],
    hostnames: [], owners: [], install_at: '', reboot: 'none', reboot_at: '', request_key: `e2e-rollback-${Date.now()}`,
  } });
  assert.equal(created.status, 200, JSON.stringify(created.body));

  await page.goto(`/deployments/${created.body.id}`);
  await hydrated(page);
  const row = page.locator('#deployment tr[data-server="build-01"]');
  // The simulated server checks in every two seconds and installs it.
  const ask = row.getByRole('button', { name: 'Roll back…' });
  await ask.waitFor({ timeout: 60_000 });
  await ask.click();
  const question = row.getByRole('alertdialog');
  const asked = `Roll ${patch.package} ${patch.version} back on build-01 to the versions it had before this deployment?`;
  const shown = await question.innerText();
  assert.ok(shown.includes(asked), shown);
  await question.getByRole('button', { name: 'Roll back', exact: true }).click();
  await page.locator('#rollback-done').filter({ hasText: 'Rollback queued on build-01.' }).waitFor();
  await row.locator('.badge', { hasText: 'rollback succeeded' }).waitFor({ timeout: 60_000 });
  assert.equal(await row.getByRole('button', { name: 'Roll back…' }).count(), 0, 'nothing left to roll back');

  // The next report offers the update again: missing.
  for (let i = 0; ; i += 1) {
    const now = (await patchesOf(page, build01.id)).find((p) => p.patch_id === patch.patch_id);
    if (now?.state === 'missing') break;
    assert.ok(i < 30, `still ${now?.state}`);
    await new Promise((r) => setTimeout(r, 1000));
  }
  assert.deepEqual(page.errors, []);
  await page.context().close();
});
