// A real browser for the end-to-end tests: Debian's Chromium driven by playwright-core, which
// never downloads a browser of its own. `.ci/run` installs the `chromium` package when missing.
import { type Browser, chromium } from 'playwright-core';

/** Where Debian's `chromium` package puts the browser; CHROMIUM_PATH points elsewhere. */
const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

/** Flags that let Chromium run headless as root in a container with no GPU and no network. */
const FLAGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
];

/** Starts a headless Chromium; close it in the test's afterAll. */
export function launchBrowser(): Promise<Browser> {
  return chromium.launch({ executablePath: CHROMIUM, args: FLAGS });
}
