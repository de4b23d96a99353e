// The browser side of scripts/scale-test.sh: one admin signed in through
// the load balancer, in real Chromium, for --seconds. It loads the main
// pages round and round (the balancer spreads them over the instances and
// names the one that answered in X-Served-By: each is kept with its time),
// and along the way gives the
// instances work that must happen exactly once: deployments to the
// simulated servers (jobs) and invited users (mails). Writes what it saw
// as JSON to --out; exits non-zero if the session was ever lost (a page
// answered with the sign-in page) or a page failed for another reason
// than the instance being killed under it.
//
//   node scale/sessions.mjs --seconds 60 --agents 40 --out result.json
import { parseArgs } from 'node:util';
import { writeFileSync } from 'node:fs';
import { launch, newPage, hydrated, BASE, call } from '../tests/helpers.mjs';

const { values: args } = parseArgs({ options: {
  seconds: { type: 'string', default: '60' },
  agents: { type: 'string', default: '40' },
  invites: { type: 'string', default: '12' },
  password: { type: 'string' },
  out: { type: 'string' },
} });
const seconds = Number(args.seconds);
const agents = Number(args.agents);
const invites = Number(args.invites);
const deadline = Date.now() + seconds * 1000;

const seen = { pages: 0, served: [], signedOut: [], failed: [], deployments: [], invited: [], hydrated: 0 };
const browser = await launch();
try {
  const page = await newPage(browser);
  await page.goto('/login');
  await hydrated(page);
  await page.fill('input[name=username]', 'admin');
  await page.fill('input[name=password]', args.password);
  await page.click('button[type=submit]');
  await page.waitForURL((u) => u.pathname === '/');

  // The simulated servers, once all have reported.
  let servers = [];
  while (Date.now() < deadline) {
    const list = await call(page, 'servers/list', { filter: { search: '' }, page: 1 });
    servers = list.body?.items ?? [];
    if (servers.length >= agents && servers.every((s) => s.last_check_in)) break;
    await page.waitForTimeout(500);
  }

  const pages = ['/', '/report', '/report?view=server', '/servers', '/rollouts', '/deployments', '/outbox', '/admin/audit'];
  let round = 0;
  while (Date.now() < deadline) {
    const path = pages[round % pages.length] === '/servers' && servers.length
      ? `/servers/${servers[round % servers.length].id}` : pages[round % pages.length];
    round += 1;
    let resp;
    try {
      resp = await page.goto(path);
    } catch (e) {
      seen.failed.push({ at: Date.now(), path, error: String(e) });
      continue;
    }
    const by = resp.headers()['x-served-by'] ?? 'unknown';
    seen.pages += 1;
    seen.served.push({ at: Date.now(), by });
    if (new URL(page.url()).pathname === '/login') {
      seen.signedOut.push({ at: Date.now(), path, by });
      break;
    }
    if (resp.status() !== 200) {
      seen.failed.push({ at: Date.now(), path, status: resp.status(), by });
      continue;
    }
    if (round % 5 === 0) {
      try {
        await hydrated(page);
        seen.hydrated += 1;
      } catch (e) {
        seen.failed.push({ at: Date.now(), path, error: `not hydrated: ${e.message}`, by });
      }
    }
    // Work for the instances, a little on every other round: a
    // deployment of one missing patch to one server (a job), or an
    // invitation (a mail).
    if (round % 2 === 0 && seen.deployments.length < servers.length) {
      const server = servers[seen.deployments.length];
      const detail = await page.evaluate(async (id) =>
        (await fetch('/api/servers/detail', { method: 'POST', body: new URLSearchParams({ id }) })).json(), String(server.id));
      const missing = (detail.patches ?? []).find((p) => p.state === 'missing');
      if (missing) {
        const sent = await call(page, 'admin/deployments/create', { request: {
          mode: 'deploy', patch_ids: [missing.patch_id], server_ids: [server.id], group_ids: [], owner_ids: [],
          hostnames: [], owners: [], install_at: '', reboot: 'none', reboot_at: '',
          request_key: `scale-${server.id}-${missing.patch_id}`,
        } });
        if (sent.status === 200) seen.deployments.push({ server: server.id, patch: missing.patch_id });
        else seen.failed.push({ at: Date.now(), path: 'admin/deployments/create', status: sent.status, body: sent.body });
      }
    } else if (round % 2 === 1 && seen.invited.length < invites) {
      const name = `scale-user-${seen.invited.length}`;
      const resp = await page.request.post(`${BASE}/api/admin/users/create`, { form: {
        username: name, display_name: 'Scale', email: `${name}@scale.invalid`, role: 'owner', password: '',
      } });
      if (resp.status() === 200) seen.invited.push(name);
      else seen.failed.push({ at: Date.now(), path: 'admin/users/create', status: resp.status(), body: await resp.text() });
    }
  }
  seen.errors = page.errors;
} finally {
  await browser.close();
}
if (args.out) writeFileSync(args.out, JSON.stringify(seen, null, 2));
const servedBy = {};
for (const { by } of seen.served) servedBy[by] = (servedBy[by] ?? 0) + 1;
console.log(`sessions: ${seen.pages} pages, served by ${JSON.stringify(servedBy)}; `
  + `${seen.deployments.length} deployments, ${seen.invited.length} invitations; ${seen.failed.length} failed, ${seen.signedOut.length} signed out`);
process.exit(seen.signedOut.length === 0 ? 0 : 1);
