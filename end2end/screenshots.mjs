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
await page.screenshot({ path: `${out}/servers.png`, fullPage: true });
await page.goto(`${BASE}/admin/audit`);
await hydrated(page);
await page.locator('table.data').waitFor();
await page.screenshot({ path: `${out}/audit.png` });
await browser.close();
console.log(`screenshots written to ${out}`);
