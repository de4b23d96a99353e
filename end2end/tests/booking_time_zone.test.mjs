// A server owner in Berlin, in a browser set to Europe/Berlin: at first
// sign-in the portal offers the browser's zone; once taken, the reboot card
// shows the demo's nightly window (21:00–05:00 Berlin) in CET, a reboot
// typed as 04:30 local time after the spring daylight-saving change
// (2027-03-28) is booked for 04:30 CEST (02:30 UTC), the hour the clocks
// skip is refused, and the booking mail names the time in CEST. At the end
// the booking is cancelled and the owner goes back to the portal's default
// zone, so later tests see the demo as it was.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { launch, newPage, hydrated, BASE, mailArrives, OWNER_MAIL, signInAs } from './helpers.mjs';

let browser;
before(async () => { browser = await launch(); });
after(async () => { await browser?.close(); });

test('a Berlin owner books a reboot in local time across the daylight-saving change', async () => {
  const page = await newPage(browser, { timezoneId: 'Europe/Berlin' });
  try {
    await signInAs(page, 'owner');
    await hydrated(page);
    // The offer of the browser's zone, once the page runs.
    const offer = page.locator('#zone-offer');
    await offer.waitFor();
    assert.match(await offer.innerText(), /Your browser uses Europe\/Berlin/);
    await offer.getByRole('button', { name: 'Use Europe/Berlin' }).click();
    // The page loads again with every time in the new zone; no more offer.
    await offer.waitFor({ state: 'detached' });
    await page.goto('/account');
    await hydrated(page);
    assert.match(await page.locator('#time-zone + p').innerText(), /Times are shown in Europe\/Berlin\./);
    assert.equal(await page.locator('#zone-offer').count(), 0);

    await page.goto('/servers');
    await hydrated(page);
    await page.locator('#servers tr[data-server="db-01"] a').first().click();
    await page.waitForURL(/\/servers\/\d+$/);
    await hydrated(page);
    const card = page.locator('#reboot-booking');
    await card.getByLabel('Reboot at').waitFor();
    assert.match(await card.locator('label', { hasText: 'Reboot at' }).innerText(), /Reboot at \(Europe\/Berlin\)/);
    // Openings in Berlin winter time, the window as its admin defined it.
    assert.match(await card.locator('ul.upcoming li').first().innerText(), /^\d{4}-\d\d-\d\d 21:00 CET – \d{4}-\d\d-\d\d 05:00 CET$/);

    // The skipped hour of 2027-03-28 does not exist in Berlin.
    await card.getByLabel('Reboot at').fill('2027-03-28T02:30');
    await card.locator('#book-reboot button[type=submit]').click();
    assert.match(await card.locator('[role=alert]').innerText(), /does not exist in Europe\/Berlin/);

    // 04:30 on the Monday after the change: inside Sunday night's window
    // as the owner reads it, in summer time.
    await card.getByLabel('Reboot at').fill('2027-03-29T04:30');
    await card.locator('#book-reboot button[type=submit]').click();
    await card.locator('#booked').filter({ hasText: 'Reboot booked for 2027-03-29 04:30 CEST' }).waitFor();
    assert.match(await card.locator('#booked').innerText(), /window closes 2027-03-29 05:00 CEST/);
    // UTC on hover is not needed here: the mail says the same local time.
    await mailArrives(OWNER_MAIL, /^Reboot of db-01 booked for 2027-03-29 04:30 CEST$/, 30_000);

    await card.locator('#cancel-booking button[type=submit]').click();
    await card.locator('#booked').filter({ hasText: 'No reboot booked.' }).waitFor();
    // The refused booking answered 422, which the browser logs; nothing else.
    assert.deepEqual(page.errors.filter((e) => !/status of 422/.test(e)), []);
  } finally {
    // Back to the portal's default for the tests that follow (a plain
    // form post with the page's cookie, whatever state the page is in).
    const resp = await page.request.post(`${BASE}/api/account/time_zone`, { form: { zone: '' }, headers: { accept: 'application/json' } });
    assert.equal(resp.status(), 200, await resp.text());
    await page.context().close();
  }
});
