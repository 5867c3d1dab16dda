import { defineConfig } from 'vitest/config';
import { playwright } from '@vitest/browser-playwright';

/**
 * Three projects: unit tests under Node; the protocol core's tests (shared/) again inside Debian's
 * Chromium, which proves the core runs unchanged in a browser; and e2e/ interop tests against real
 * peers (Chromium with the built extension; later the private tor network). Tests that need Node (they read
 * fixtures from disk, or check the source tree) are named `*.node.test.ts` and stay out of the
 * browser project.
 */
const chromiumPath = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: 'node',
          include: ['shared/**/*.test.ts', 'relay-bridge/**/*.test.ts', 'node-client/**/*.test.ts', 'onion-host/**/*.test.ts', 'node-platform/**/*.test.ts', 'cli/**/*.test.ts', 'extension/**/*.test.ts', 'testnet/**/*.test.ts', 'bench/**/*.test.ts', 'scripts/**/*.test.ts'],
          environment: 'node',
          testTimeout: 30_000,
        },
      },
      {
        test: {
          name: 'browser',
          include: ['shared/**/*.test.ts'],
          exclude: ['shared/**/*.node.test.ts'],
          testTimeout: 60_000,
          browser: {
            enabled: true,
            headless: true,
            screenshotFailures: false,
            provider: playwright({
              launchOptions: {
                executablePath: chromiumPath,
                args: [
                  '--no-sandbox',
                  '--disable-gpu',
                  '--disable-quic',
                  '--no-first-run',
                  '--disable-background-networking',
                  '--disable-component-update',
                  '--disable-sync',
                ],
              },
            }),
            instances: [{ browser: 'chromium' }],
          },
        },
      },
      {
        test: {
          name: 'e2e',
          include: ['e2e/**/*.e2e.test.ts'],
          globalSetup: ['e2e/global-setup.ts'],
          // A worker exits when vitest's main process dies (e.g. SIGKILL), instead of lingering.
          setupFiles: ['e2e/worker-lifeline.ts'],
          environment: 'node',
          testTimeout: 180_000,
          hookTimeout: 300_000,
          // Interop tests share heavyweight peers (Chromium, later a private tor network): run the
          // files one after another so they do not compete for the machine's two cores.
          fileParallelism: false,
        },
      },
    ],
  },
});
