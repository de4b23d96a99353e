// Phones and accessibility: every page the admin, the owner and a visitor
// can reach, on a 390 × 844 screen (a phone) and on a desktop one. On the
// phone no page may scroll sideways (what sticks out is named) and the main
// menu folds behind its "Menu" button; on the desktop axe-core may find no
// serious or critical violation. Only when the demo has no deployment yet
// does it publish one patch to app-04 (silent and without owner: nothing
// runs, nobody is told) to have a deployment page to look at.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { launch, newPage, hydrated, BASE, signInAs } from './helpers.mjs';

const PHONE = { width: 390, height: 844 };
const DESKTOP = { width: 1280, height: 900 };
const AXE = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');

const SIGNED_OUT = ['/login', '/forgot'];
const ADMIN_LINKS = ['Home', 'Servers', 'Patches missing', 'Rollouts', 'Deployments', 'Policies', 'Windows',
  'Advisories', 'Notifications', 'Outbox', 'Users', 'Audit trail'];
const OWNER_LINKS = ['Home', 'My servers'];

let browser;
// The pages each role reaches, found once (as admin and as owner).
let adminPages;
let ownerPages;
before(async () => {
  browser = await launch();
  adminPages = await discover('admin');
  ownerPages = await discover('owner');
});
after(async () => { await browser?.close(); });

// Waits until the page is hydrated and its data has arrived.
async function settle(page) {
  await hydrated(page);
  await page.waitForLoadState('networkidle', { timeout: 5_000 }).catch(() => {});
  await page.waitForFunction(() => !(document.querySelector('main')?.innerText ?? '').includes('Loading…'),
    null, { timeout: 15_000 });
}

async function signedIn(user, options) {
  const page = await newPage(browser, options);
  await signInAs(page, user);
  return page;
}

// The first link on `path` whose address matches `pattern`, or undefined.
async function firstLink(page, path, pattern) {
  await page.goto(path);
  await settle(page);
  const hrefs = await page.locator('main a[href]').evaluateAll((as) => as.map((a) => a.getAttribute('href')));
  return hrefs.find((h) => pattern.test(h));
}

// Every page `user` can reach, with one of each kind of detail page.
async function discover(user) {
  const page = await signedIn(user, { viewport: DESKTOP });
  const server = await firstLink(page, '/servers', /^\/servers\/\d+(\?|$)/);
  assert.ok(server, `${user} sees a server`);
  if (user === 'owner') {
    await page.context().close();
    return ['/', '/servers', server, '/account'];
  }
  // The demo imports its advisories once the simulated servers reported.
  let patch;
  for (let i = 0; i < 30 && !patch; i++) {
    patch = await firstLink(page, '/report', /^\/patches\/\d+(\?|$)/);
    if (!patch) await page.waitForTimeout(1000);
  }
  assert.ok(patch, 'the report lists a patch');
  const pages = ['/', '/servers', server, '/report', '/report?view=server', patch, '/rollouts'];
  // The scheduler (every minute) takes the demo's patches into rollouts.
  let rollout;
  for (let i = 0; i < 45 && !rollout; i++) {
    rollout = await firstLink(page, '/rollouts', /^\/rollouts\/\d+(\?|$)/);
    if (!rollout) await page.waitForTimeout(2000);
  }
  assert.ok(rollout, 'the scheduler made a rollout');
  pages.push(rollout);
  pages.push('/deployments',
    await firstLink(page, '/deployments', /^\/deployments\/\d+(\?|$)/) ?? await publishOne(page));
  pages.push('/policies', '/windows', '/advisories', '/notifications', '/outbox', '/admin/users',
    '/admin/audit', '/account');
  await page.context().close();
  return pages;
}

// Publishes one patch missing on app-04 and returns the deployment's page.
async function publishOne(page) {
  const api = (endpoint, form) => page.request.post(`${BASE}/api/${endpoint}`, { form, headers: { accept: 'application/json' } })
    .then((r) => r.json());
  const servers = await page.request.post(`${BASE}/api/servers/list`, { data: { filter: { search: 'app-04' }, page: 1 } })
    .then((r) => r.json());
  const app04 = servers.items.find((s) => s.hostname === 'app-04');
  const detail = await api('servers/detail', { id: String(app04.id) });
  const missing = detail.patches.find((p) => p.state === 'missing');
  assert.ok(missing, 'app-04 misses a patch');
  const done = await api('admin/deployments/submit', { mode: 'publish', 'patch_ids[]': String(missing.patch_id), hostnames: 'app-04' });
  assert.ok(done.id, `published: ${JSON.stringify(done)}`);
  return `/deployments/${done.id}`;
}

// What sticks out to the right of the screen, outside anything that
// scrolls sideways itself: the outermost such elements, described by their
// tag, id and classes, their nearest ancestors and their text.
function overflow() {
  const doc = document.documentElement;
  const limit = doc.clientWidth;
  if (doc.scrollWidth <= limit) return null;
  const clips = (el) => ['auto', 'scroll', 'hidden', 'clip'].includes(getComputedStyle(el).overflowX);
  const contained = (el) => {
    for (let p = el.parentElement; p && p !== document.body; p = p.parentElement) if (clips(p)) return true;
    return false;
  };
  const sticksOut = (el) => {
    const r = el.getBoundingClientRect();
    return (r.width > 0 || r.height > 0) && r.right > limit + 0.5;
  };
  const name = (el) => el.tagName.toLowerCase() + (el.id ? `#${el.id}` : '')
    + [...el.classList].map((c) => `.${c}`).join('');
  const path = (el) => {
    const parts = [];
    for (let e = el; e && e !== document.body && parts.length < 4; e = e.parentElement) parts.unshift(name(e));
    return parts.join(' > ');
  };
  const culprits = [...document.body.querySelectorAll('*')]
    .filter((el) => sticksOut(el) && !contained(el) && !(el.parentElement && sticksOut(el.parentElement)))
    .map((el) => `${path(el)} (right ${Math.round(el.getBoundingClientRect().right)}px: `
      + `"${el.textContent.trim().replace(/\s+/g, ' ').slice(0, 50)}")`);
  return { scrollWidth: doc.scrollWidth, width: limit, culprits };
}

// Loads each page on a phone and collects what scrolls sideways.
async function phoneCheck(page, paths) {
  const problems = [];
  for (const path of paths) {
    const response = await page.goto(path);
    assert.ok(response.status() < 400, `${path} answers ${response.status()}`);
    await settle(page);
    const found = await page.evaluate(overflow);
    if (found) {
      problems.push(`${path}: ${found.scrollWidth}px wide on a ${found.width}px screen; sticking out:\n    `
        + (found.culprits.join('\n    ') || '(nothing found)'));
    }
  }
  assert.equal(problems.length, 0, `pages scroll sideways on a phone:\n  ${problems.join('\n  ')}`);
}

// On a phone the menu is folded: its links are hidden until "Menu" is
// pressed (by pointer or keyboard), then all of them are on the screen.
// Once hydrated, "Menu" is a button that says whether the menu is open.
async function checkMenu(page, links) {
  await page.goto('/');
  await settle(page);
  const nav = page.locator('nav.main');
  const button = page.locator('button#menu-toggle');
  assert.equal(await nav.isVisible(), false, 'the menu starts folded');
  assert.equal(await button.innerText(), 'Menu');
  assert.equal(await button.getAttribute('aria-expanded'), 'false');
  assert.equal(await button.getAttribute('aria-controls'), await nav.getAttribute('id'));
  await button.click();
  await nav.waitFor({ state: 'visible' });
  assert.equal(await button.getAttribute('aria-expanded'), 'true');
  for (const link of links) {
    const a = nav.getByRole('link', { name: link, exact: true });
    assert.ok(await a.isVisible(), `${link} is shown`);
    const box = await a.boundingBox();
    assert.ok(box.x >= 0 && box.x + box.width <= PHONE.width, `${link} is on the screen`);
  }
  assert.equal(await page.evaluate(overflow), null, 'the open menu fits the screen');
  await button.click();
  await nav.waitFor({ state: 'hidden' });
  assert.equal(await button.getAttribute('aria-expanded'), 'false');

  // By keyboard, from the top of a fresh page: the skip link, the brand,
  // then the menu's toggle.
  await page.reload();
  await settle(page);
  await page.keyboard.press('Tab');
  assert.equal(await page.evaluate(() => document.activeElement.className), 'skip');
  assert.ok(await page.locator('a.skip').isVisible(), 'the skip link shows when focused');
  await page.keyboard.press('Tab');
  await page.keyboard.press('Tab');
  assert.equal(await page.evaluate(() => document.activeElement.id), 'menu-toggle');
  await page.keyboard.press('Enter');
  await nav.waitFor({ state: 'visible' });
  await page.keyboard.press('Tab');
  assert.equal(await page.evaluate(() => document.activeElement.textContent), links[0]);

  // Following a link lands on its page with the menu folded again.
  await nav.getByRole('link', { name: links[1], exact: true }).click();
  await page.waitForURL((u) => u.pathname === '/servers');
  await settle(page);
  assert.equal(await nav.isVisible(), false, 'the menu folds after a link was followed');
}

// On a desktop the menu is simply there.
async function checkDesktopMenu(page, links) {
  await page.setViewportSize(DESKTOP);
  await page.goto('/');
  await settle(page);
  assert.equal(await page.locator('.menu-button').isVisible(), false, 'no menu button on a desktop');
  for (const link of links) {
    assert.ok(await page.locator('nav.main').getByRole('link', { name: link, exact: true }).isVisible(), `${link} is shown`);
  }
}

test('signed out, on a phone: the sign-in pages fit the screen', async () => {
  const page = await newPage(browser, { viewport: PHONE });
  await phoneCheck(page, SIGNED_OUT);
  assert.deepEqual(page.errors, []);
  await page.context().close();
});

for (const [user, links] of [['admin', ADMIN_LINKS], ['owner', OWNER_LINKS]]) {
  test(`the ${user}, on a phone: every page fits the screen and the menu folds`, async () => {
    const page = await signedIn(user, { viewport: PHONE });
    const pages = user === 'admin' ? adminPages : ownerPages;
    await phoneCheck(page, pages);
    await checkMenu(page, links);
    await checkDesktopMenu(page, links);
    assert.deepEqual(page.errors, []);
    await page.context().close();
  });
}

// Runs axe-core on each page and collects its serious and critical findings.
async function axeCheck(page, paths) {
  const problems = [];
  for (const path of paths) {
    const response = await page.goto(path);
    if (response.status() >= 400) problems.push(`${path}: answers ${response.status()}`);
    await settle(page);
    await page.addScriptTag({ content: AXE });
    const violations = await page.evaluate(async () => (await window.axe.run(document, { resultTypes: ['violations'] })).violations);
    for (const v of violations.filter((v) => v.impact === 'serious' || v.impact === 'critical')) {
      const targets = v.nodes.slice(0, 6).map((n) => n.target.join(' ')).join(', ');
      problems.push(`${path}: ${v.id} (${v.impact}) ${v.help}: ${targets}${v.nodes.length > 6 ? ', …' : ''}`);
    }
  }
  assert.equal(problems.length, 0, `axe-core finds:\n  ${problems.join('\n  ')}`);
}

// axe-core is injected as an inline script, which the pages' strict
// Content-Security-Policy (scripts only with this response's nonce) would
// block: these contexts alone bypass the CSP. Every other test keeps it on.
const AXE_CONTEXT = { viewport: DESKTOP, bypassCSP: true };

test('signed out: axe-core finds no serious or critical violation', async () => {
  const page = await newPage(browser, AXE_CONTEXT);
  await axeCheck(page, SIGNED_OUT);
  await page.context().close();
});

for (const user of ['admin', 'owner']) {
  test(`the ${user}: axe-core finds no serious or critical violation on any page`, async () => {
    const page = await signedIn(user, AXE_CONTEXT);
    await axeCheck(page, user === 'admin' ? adminPages : ownerPages);
    await page.context().close();
  });
}

test('by keyboard: the skip links lead into the page and past the report\'s filters to its rows', async () => {
  const page = await signedIn('admin', { viewport: DESKTOP });
  await page.goto('/report');
  await settle(page);
  await page.locator('#report tbody tr').first().waitFor();
  const focused = () => page.evaluate(() => {
    const el = document.activeElement;
    return `${el.tagName.toLowerCase()}${el.id ? `#${el.id}` : ''} "${(el.getAttribute('aria-label') ?? el.textContent).trim().slice(0, 30)}"`;
  });
  // The shell's skip link: first in the tab order, it moves the focus.
  await page.keyboard.press('Tab');
  assert.match(await focused(), /^a "Skip to the content"$/);
  await page.keyboard.press('Enter');
  assert.equal(await page.evaluate(() => document.activeElement.id), 'main');
  // The report's own, next in line, passes the tabs and filters.
  for (let i = 0; i < 3 && !/Skip to the rows/.test(await focused()); i++) await page.keyboard.press('Tab');
  assert.match(await focused(), /Skip to the rows/);
  assert.ok(await page.locator('a.skip-to').isVisible(), 'the skip link shows when focused');
  await page.keyboard.press('Enter');
  assert.match(await focused(), /^div#report-rows/);
  // Then the paging, the select-all box and the sort buttons, then a row.
  const seen = [];
  while (!(await page.evaluate(() => !!document.activeElement.closest('#report tbody')))) {
    if (seen.length === 15) assert.fail(`the rows are not reached in 15 keys: ${seen.join(', ')}`);
    await page.keyboard.press('Tab');
    seen.push(await focused());
  }
  assert.deepEqual(page.errors, []);
  await page.context().close();
});
