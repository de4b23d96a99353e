// Shared setup for the end-to-end tests: real Chromium (Debian's), driven by
// playwright-core, against the portal that scripts/e2e.sh started in demo mode.
import { chromium } from 'playwright-core';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';

export const BASE = process.env.PATCHPORT_E2E_URL ?? 'http://127.0.0.1:3100';
export const DEMO_PASSWORD = 'patchport-demo';

export async function launch() {
  return chromium.launch({
    executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
    headless: true,
    args: ['--no-sandbox', '--disable-background-networking', '--disable-component-update',
      '--disable-sync', '--disable-gpu', '--no-first-run'],
  });
}

// A fresh browser context (own cookies) with a page that fails the test on
// any console error or uncaught exception, e.g. a hydration error or a CSP
// violation.
// `options` go to the context, e.g. `{ javaScriptEnabled: false }`.
export async function newPage(browser, options = {}) {
  const context = await browser.newContext({ baseURL: BASE, ...options });
  const page = await context.newPage();
  page.errors = [];
  page.on('pageerror', (e) => page.errors.push(`pageerror: ${e.message}`));
  page.on('console', (m) => { if (m.type() === 'error') page.errors.push(`console: ${m.text()}`); });
  return page;
}

// Waits until the WASM bundle has hydrated the page.
export async function hydrated(page) {
  await page.waitForFunction(() => window.__patchportHydrated === true, null, { timeout: 30_000 });
}

export async function signIn(page, username, password) {
  await page.goto('/login');
  await hydrated(page);
  await page.fill('input[name=username]', username);
  await page.fill('input[name=password]', password);
  await page.click('button[type=submit]');
}

// Signs in (as a demo user unless a password is given) and waits for the
// home page.
export async function signInAs(page, username, password = DEMO_PASSWORD) {
  await signIn(page, username, password);
  await page.waitForURL((u) => u.pathname === '/');
}

// Calls a JSON server function with the page's session cookie; works with
// and without JavaScript.
export async function call(page, endpoint, body) {
  const resp = await page.request.post(`${BASE}/api/${endpoint}`, { data: body, headers: { accept: 'application/json' } });
  return { status: resp.status(), body: await resp.json().catch(() => null) };
}

export async function signOut(page) {
  await page.click('text=Sign out');
  await page.waitForURL(/\/login\?signed_out=1/);
  await page.getByRole('status').filter({ hasText: 'You have signed out.' }).waitFor();
}

// Where the SMTP server started by scripts/e2e.sh keeps each mail as JSON.
export const MAIL_DIR = process.env.PATCHPORT_E2E_MAIL_DIR;
// The demo owner's address.
export const OWNER_MAIL = 'owner@demo.patchport.invalid';

// The mails the SMTP server accepted for `to`, oldest first.
export function mailsTo(to) {
  return fs.readdirSync(MAIL_DIR).filter((f) => f.endsWith('.json')).sort()
    .map((f) => JSON.parse(fs.readFileSync(path.join(MAIL_DIR, f), 'utf8')))
    .filter((m) => m.to.includes(to))
    .map((m) => ({ ...m, subject: (m.data.match(/^Subject: (.*)$/m) ?? [])[1]?.trim() ?? '' }));
}

export async function mailArrives(to, subject, timeout) {
  const until = Date.now() + timeout;
  for (;;) {
    const found = mailsTo(to).find((m) => subject.test(m.subject));
    if (found) return found;
    if (Date.now() > until) {
      assert.fail(`no mail to ${to} matching ${subject}; got: ${mailsTo(to).map((m) => m.subject).join(' | ')}`);
    }
    await new Promise((r) => setTimeout(r, 1000));
  }
}

