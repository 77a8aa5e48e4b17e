import fs from 'node:fs';
import { describe } from '@jest/globals';
import { chromium, type Browser } from 'playwright-core';

/** Debian's Chromium (`apt-get install -y chromium`; .ci/run installs it when it can). */
export const CHROMIUM = '/usr/bin/chromium';
export const haveChromium = fs.existsSync(CHROMIUM);
if (!haveChromium) {
  console.warn(`browser tests skipped: ${CHROMIUM} is missing (apt-get install -y chromium)`);
}

/** `describe` when Chromium is installed, else `describe.skip`. */
export const describeBrowser = haveChromium ? describe : describe.skip;

/**
 * Headless Chromium for the dashboard's tests. Playwright gives each launch a fresh temporary
 * profile (user-data-dir) and removes it after. The background-networking and QUIC flags keep
 * Chromium from calling anything but the test's server: this machine's network is closed.
 */
export function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: [
      '--headless',
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
