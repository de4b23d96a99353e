// Refreshes the README's screenshots from a running demo portal:
//   target/debug/patchport demo &  node end2end/screenshots.mjs
import { launch, newPage, hydrated, signIn, BASE } from './tests/helpers.mjs';

const out = new URL('../docs/screenshots/', import.meta.url).pathname;
const browser = await launch();
const page = await newPage(browser);
await page.setViewportSize({ width: 1200, height: 720 });
await page.goto(`${BASE}/login`);
await hydrated(page);
await page.screenshot({ path: `${out}/login.png` });
await signIn(page, 'admin', 'patchport-demo');
await page.waitForURL((u) => u.pathname === '/');
await page.goto(`${BASE}/admin/users`);
await hydrated(page);
await page.locator('#users').waitFor();
await page.screenshot({ path: `${out}/users.png`, fullPage: true });
await page.goto(`${BASE}/servers`);
await hydrated(page);
await page.locator('#create-token').waitFor();
await page.locator('#servers tr[data-server="db-01"]').waitFor();
await page.screenshot({ path: `${out}/servers.png` });
// A demo server with a finished install job and its log.
const href = await page.locator('#servers tr[data-server="web-02"] a').getAttribute('href');
await page.goto(`${BASE}${href}`);
await hydrated(page);
await page.locator('#patches').waitFor();
if (await page.locator('#jobs tr[data-job]').count() === 0) {
  await page.locator('#patches tbody tr').nth(0).locator('input[type=checkbox]').check();
  await page.locator('#patches tbody tr').nth(1).locator('input[type=checkbox]').check();
  await page.locator('#install-selected').click();
  await page.locator('#jobs tr[data-state="succeeded"]').waitFor({ timeout: 90_000 });
}
await page.locator('#jobs details summary').first().click();
await page.setViewportSize({ width: 1200, height: 1300 });
await page.screenshot({ path: `${out}/server.png` });
await page.setViewportSize({ width: 1200, height: 720 });
await page.goto(`${BASE}/admin/audit`);
await hydrated(page);
await page.locator('table.data').waitFor();
await page.screenshot({ path: `${out}/audit.png` });
await page.goto(`${BASE}/`);
await hydrated(page);
await page.locator('#morning .stats').waitFor();
await page.setViewportSize({ width: 1200, height: 1000 });
await page.screenshot({ path: `${out}/dashboard.png` });
await page.goto(`${BASE}/report?security_only=true`);
await hydrated(page);
await page.locator('#report tbody tr').first().waitFor();
await page.locator('#report tbody tr').nth(0).locator('input[type=checkbox]').check();
await page.locator('#report tbody tr').nth(2).locator('input[type=checkbox]').check();
await page.screenshot({ path: `${out}/report.png` });
// The demo's nightly window for the database servers, on the calendar.
await page.goto(`${BASE}/windows`);
await hydrated(page);
await page.locator('table#window-calendar').waitFor();
await page.setViewportSize({ width: 1200, height: 900 });
await page.screenshot({ path: `${out}/windows.png` });
await page.setViewportSize({ width: 1200, height: 720 });
// Rollouts: the demo's canary servers test new security patches (start the
// demo with PATCHPORT_SCHEDULER_SECONDS=5 so the scheduler has run).
await page.goto(`${BASE}/rollouts`);
await hydrated(page);
await page.locator('#rollouts tbody tr').first().waitFor({ timeout: 60_000 });
await page.setViewportSize({ width: 1200, height: 720 });
await page.screenshot({ path: `${out}/rollouts.png` });
await page.locator('#rollouts tbody tr a').first().click();
await page.locator('#history').waitFor();
await page.screenshot({ path: `${out}/rollout.png`, fullPage: true });
// The owner's side: their servers with what is published and the next window.
const owner = await newPage(browser);
await owner.setViewportSize({ width: 1200, height: 720 });
await signIn(owner, 'owner', 'patchport-demo');
await owner.waitForURL((u) => u.pathname === '/');
await owner.goto(`${BASE}/servers`);
await hydrated(owner);
await owner.locator('#servers tr[data-server="db-01"]').waitFor();
await owner.screenshot({ path: `${out}/my-servers.png` });
// The owner's home page: what needs doing on their servers.
await owner.goto(`${BASE}/`);
await hydrated(owner);
await owner.locator('main h1').waitFor();
await owner.setViewportSize({ width: 1200, height: 900 });
await owner.screenshot({ path: `${out}/home-owner.png` });
// The same on a phone, the menu open.
await owner.setViewportSize({ width: 390, height: 844 });
await owner.locator('label.menu-button').click();
await owner.screenshot({ path: `${out}/phone.png` });
await browser.close();
console.log(`screenshots written to ${out}`);
