// Servers in a real browser with a real agent: an admin creates an
// enrolment token in the UI, the agent binary enrols this machine with it,
// the server appears with its missing patches, the admin assigns it to the
// owner, and the owner sees it.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { launch, newPage, hydrated, BASE, signInAs } from './helpers.mjs';

const AGENT = process.env.PATCHPORT_AGENT_BIN ?? '../target/debug/patchport-agent';

let browser;
before(async () => { browser = await launch(); });
after(async () => { await browser?.close(); });

test('an admin enrols this machine with a token from the UI and assigns it to its owner', async () => {
  const page = await newPage(browser);
  await signInAs(page, 'admin');
  await page.goto('/servers');
  await hydrated(page);

  const form = page.locator('#create-token');
  await form.locator('input[name=label]').fill('e2e machine');
  await form.locator('button[type=submit]').click();
  const command = await page.locator('.token pre.enroll').innerText();
  const token = command.match(/--token (ppe_[0-9a-f]{64})/)?.[1];
  assert.ok(token, `the enroll command carries the token: ${command}`);
  assert.ok(command.includes(`--url ${BASE}`), command);
  const steps = await page.locator('.token').innerText();
  assert.match(steps, /apt-get install \.\/patchport-agent_\S+-1_amd64\.deb/, `the Debian install line: ${steps}`);
  assert.match(steps, /dnf install \.\/patchport-agent-\S+-1\.x86_64\.rpm/, `the RPM install line: ${steps}`);

  const dir = mkdtempSync(join(tmpdir(), 'patchport-agent-'));
  const config = join(dir, 'agent.json');
  execFileSync(AGENT, ['--config', config, 'enroll', '--url', BASE, '--token', token, '--state-dir', join(dir, 'state')], { stdio: 'pipe' });
  assert.equal(statSync(config).mode & 0o777, 0o600, 'the credential file is private');

  const hostname = readFileSync('/proc/sys/kernel/hostname', 'utf8').trim();
  await page.reload();
  await hydrated(page);
  const row = page.locator(`#servers tr[data-server="${hostname}"]`).last();
  await row.waitFor();
  assert.match(await row.innerText(), /online/);
  assert.match(await row.locator('td').nth(6).innerText(), /^\d+$/, 'missing patches are counted');
  // The token is used up now.
  await page.getByRole('cell', { name: 'used up' }).first().waitFor();

  await row.getByRole('button', { name: 'Edit owner' }).click();
  await row.getByLabel('Owner').fill('owner');
  await row.getByLabel('Criticality').selectOption('critical');
  await row.getByRole('button', { name: 'Save' }).click();
  await page.locator(`#servers tr[data-server="${hostname}"] >> text=owner`).last().waitFor();
  assert.deepEqual(page.errors, []);
  await page.context().close();

  const ownerPage = await newPage(browser);
  await signInAs(ownerPage, 'owner');
  await ownerPage.goto('/servers');
  await hydrated(ownerPage);
  await ownerPage.locator(`#servers tr[data-server="${hostname}"]`).first().waitFor();
  assert.equal(await ownerPage.locator('#create-token').count(), 0, 'owners cannot enrol servers');
  assert.equal(await ownerPage.getByRole('button', { name: 'Revoke' }).count(), 0, 'nor revoke agents');
  // The server's own page: facts, missing patches, searchable packages.
  await ownerPage.locator(`#servers tr[data-server="${hostname}"] a`).first().click();
  await ownerPage.waitForURL(/\/servers\/\d+$/);
  assert.equal(await ownerPage.locator('#server-name').innerText(), hostname);
  // The installed packages are folded below what the owner acts on.
  await ownerPage.locator('#installed-packages > summary').click();
  await ownerPage.fill('input[aria-label="Search packages"]', 'dpkg');
  // The unfiltered first page may list dpkg too: wait for the filter itself.
  await ownerPage.waitForFunction(() => {
    const names = [...document.querySelectorAll('#packages tbody tr td:first-child')].map((td) => td.textContent);
    return names.includes('dpkg') && names.every((n) => n.includes('dpkg'));
  });
  await ownerPage.context().close();
});
