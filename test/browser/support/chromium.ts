import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { type Browser, type BrowserContext, chromium, type Page } from 'playwright-core';

/** Debian's Chromium; CHROMIUM_PATH overrides. Playwright's own browsers cannot be downloaded here. */
export const CHROMIUM_PATH = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

/**
 * Whether the browser tests can run. Under CI they must: a missing Chromium fails them (the CI
 * script installs it). On a developer machine without Chromium they are skipped with a note.
 */
export function chromiumAvailable(): boolean {
  if (existsSync(CHROMIUM_PATH)) return true;
  if (process.env.CI) throw new Error(`CI is set but Chromium is missing at ${CHROMIUM_PATH}`);
  process.stderr.write(
    `browser tests skipped: no Chromium at ${CHROMIUM_PATH} (apt-get install chromium)\n`,
  );
  return false;
}

/** Headless Chromium with the flags this sandbox needs (no network, no GPU, no background traffic). */
export function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM_PATH,
    headless: true,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
}

/** Viewport sizes every page is photographed at. */
export const VIEWPORTS = {
  phone: { width: 390, height: 844 },
  desktop: { width: 1280, height: 800 },
} as const;

/** Where the browser tests write their screenshots. */
export const SCREENSHOT_DIR = join(
  import.meta.dirname,
  '..',
  '..',
  '..',
  'test-output',
  'screenshots',
);

/**
 * Photographs the page at phone and desktop sizes (full page), restoring the viewport after.
 * Files: test-output/screenshots/<name>-phone.png and <name>-desktop.png.
 */
export async function screenshotBoth(page: Page, name: string): Promise<void> {
  mkdirSync(SCREENSHOT_DIR, { recursive: true });
  const original = page.viewportSize();
  for (const [size, viewport] of Object.entries(VIEWPORTS)) {
    await page.setViewportSize(viewport);
    await page.screenshot({ path: join(SCREENSHOT_DIR, `${name}-${size}.png`), fullPage: true });
  }
  if (original) await page.setViewportSize(original);
}

/**
 * Gives a page a virtual passkey authenticator (Chromium's WebAuthn DevTools domain): resident
 * keys, user verification that always succeeds. Returns its id, to read its credentials.
 */
export async function addVirtualAuthenticator(
  context: BrowserContext,
  page: Page,
): Promise<{ id: string; credentials(): Promise<unknown[]> }> {
  const cdp = await context.newCDPSession(page);
  await cdp.send('WebAuthn.enable', { enableUI: false });
  const { authenticatorId } = await cdp.send('WebAuthn.addVirtualAuthenticator', {
    options: {
      protocol: 'ctap2',
      transport: 'internal',
      hasResidentKey: true,
      hasUserVerification: true,
      isUserVerified: true,
      automaticPresenceSimulation: true,
    },
  });
  return {
    id: authenticatorId,
    credentials: async () =>
      (await cdp.send('WebAuthn.getCredentials', { authenticatorId })).credentials,
  };
}

/**
 * A basic accessibility check of what the page shows: every visible form control has a label
 * (a <label>, aria-label or aria-labelledby), every button and link has a name, images have alt
 * text, and the page has exactly one <h1>. Returns the offenders, described, so a failing
 * assertion says which.
 */
export async function unlabelledControls(page: Page): Promise<string[]> {
  return page.evaluate(() => {
    const visible = (el: Element) => {
      const box = (el as HTMLElement).getBoundingClientRect();
      return box.width > 0 && box.height > 0 && getComputedStyle(el).visibility !== 'hidden';
    };
    const describe = (el: Element) =>
      `${el.tagName.toLowerCase()}#${el.id}[${el.getAttribute('data-testid') ?? ''}]`;
    const problems: string[] = [];
    for (const el of document.querySelectorAll('input:not([type=hidden]), select, textarea')) {
      const control = el as HTMLInputElement;
      if (!visible(el)) continue;
      const named =
        (control.labels?.length ?? 0) > 0 ||
        el.hasAttribute('aria-label') ||
        el.hasAttribute('aria-labelledby');
      if (!named) problems.push(`unlabelled ${describe(el)}`);
    }
    for (const el of document.querySelectorAll('button, a[href]')) {
      if (visible(el) && !(el.textContent?.trim() || el.getAttribute('aria-label')))
        problems.push(`nameless ${describe(el)}`);
    }
    for (const el of document.querySelectorAll('img')) {
      if (visible(el) && !el.hasAttribute('alt')) problems.push(`no alt ${describe(el)}`);
    }
    const h1 = [...document.querySelectorAll('h1')].filter(visible).length;
    if (h1 !== 1) problems.push(`${h1} visible h1 elements`);
    return problems;
  });
}
