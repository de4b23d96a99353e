// Accounts in a real browser: sign-in, user management, role refusal,
// identical failure messages, and the hydrated UI answering without reloads.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { launch, newPage, hydrated, signIn, signOut, signInAs } from './helpers.mjs';

let browser;
before(async () => { browser = await launch(); });
after(async () => { await browser?.close(); });

test('admin signs in, creates an owner, signs out; the owner is refused on an admin page', async () => {
  const page = await newPage(browser);
  await signInAs(page, 'admin');
  await page.getByRole('heading', { name: /Welcome, Ada Admin/ }).waitFor();

  await page.click('nav.main >> text=Users');
  await page.waitForURL(/\/admin\/users/);
  await hydrated(page);
  // Mark the document: if anything below reloads the page, the mark is gone.
  await page.evaluate(() => { window.__noReload = true; });

  const owner = `e2e-owner-${Date.now()}`;
  const form = page.locator('#create-user');
  await form.locator('input[name=username]').fill(owner);
  await form.locator('input[name=display_name]').fill('E2E Owner');
  await form.locator('input[name=email]').fill(`${owner}@example.org`);
  await form.locator('select[name=role]').selectOption('owner');
  await form.locator('input[name=password]').fill('e2e-owner-password');
  await form.locator('button[type=submit]').click();
  await page.getByRole('status').filter({ hasText: `Created ${owner} (owner) with the initial password you gave.` }).waitFor();
  await page.locator(`tr[data-user="${owner}"]`).waitFor();
  // The form is empty again for the next user.
  assert.equal(await form.locator('input[name=username]').inputValue(), '');
  assert.equal(await form.locator('input[name=password]').inputValue(), '');
  // Paging controls render as controls (one page: both disabled).
  assert.equal(await page.getByRole('button', { name: 'Next ›', exact: true }).isDisabled(), true);
  assert.match(await page.locator('nav.pager span').innerText(), /^Page 1 of 1 · \d+ in all$/);

  // Client-side search: the list filters as you type, without a reload.
  await page.fill('input[type=search]', owner);
  await page.waitForFunction(() => document.querySelectorAll('#users tbody tr').length === 1);
  assert.equal(await page.locator('#users tbody tr td').first().innerText(), owner);
  // An inline confirmation appears and cancels without a round trip.
  await page.locator(`tr[data-user="${owner}"] >> text=Disable`).click();
  await page.getByRole('alertdialog').waitFor();
  await page.getByRole('alertdialog').getByText('Cancel').click();
  assert.equal(await page.evaluate(() => window.__noReload), true, 'the page was not reloaded');

  await signOut(page);
  assert.deepEqual(page.errors, []);

  const ownerPage = await newPage(browser);
  await signInAs(ownerPage, owner, 'e2e-owner-password');
  await ownerPage.getByText('You look after servers.').waitFor();
  assert.equal(await ownerPage.locator('nav.main >> text=Users').count(), 0, 'owners get no admin links');
  const resp = await ownerPage.goto('/admin/users');
  assert.equal(resp.status(), 403);
  await ownerPage.getByRole('heading', { name: /Administrators only/ }).waitFor();
  assert.equal(await ownerPage.locator('#users').count(), 0, 'no user list for owners');
  await ownerPage.context().close();
  await page.context().close();
});

test('a wrong password shows the same message as an unknown user', async () => {
  const page = await newPage(browser);
  const messageFor = async (username, password) => {
    await signIn(page, username, password);
    const alert = page.getByRole('alert');
    await alert.waitFor();
    const text = await alert.innerText();
    assert.ok(page.url().includes('/login'), 'still on the sign-in page');
    return text;
  };
  const wrong = await messageFor('admin', 'not-the-password');
  const unknown = await messageFor('no-such-user', 'not-the-password');
  assert.equal(wrong, 'Wrong user name or password.');
  assert.equal(unknown, wrong);
  assert.deepEqual(page.errors.filter((e) => !e.includes('422')), []);
  await page.context().close();
});
