import type { BrowserContext, Page } from "playwright-core";

/**
 * Records, in the page, the moment (ms since navigation started) the room list first shows `n`
 * rooms. Installed as an init script: the client's page policy forbids evaluating strings, which
 * Playwright's waitForFunction would need, and a poll from outside would add its own delay.
 */
export async function watchRoomList(context: BrowserContext, n: number): Promise<void> {
  await context.addInitScript(`(() => {
    const seen = () => document.querySelectorAll(".room-item").length >= ${n};
    new MutationObserver((_, observer) => {
      if (seen()) {
        window.__roomsListedAt = Math.round(performance.now());
        observer.disconnect();
      }
    }).observe(document, { childList: true, subtree: true });
  })();`);
}

export async function roomListShownAt(page: Page, n: number, timeout = 30_000): Promise<number> {
  await page
    .locator(".room-item")
    .nth(n - 1)
    .waitFor({ timeout });
  return page.evaluate(() => (globalThis as unknown as { __roomsListedAt: number }).__roomsListedAt);
}
