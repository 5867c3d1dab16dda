import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

/**
 * Firefox must at least accept the extension: Mozilla's linter (web-ext lint) on the built
 * extension finds no errors, and the only warning is the one we accept by design (the manifest
 * names both a service worker, for Chromium, and background scripts, for Firefox).
 */
const root = fileURLToPath(new URL('..', import.meta.url));

describe('web-ext lint (Firefox)', () => {
  it('finds no errors in the built extension', async () => {
    const out = await new Promise<string>((resolve, reject) => {
      execFile(`${root}node_modules/.bin/web-ext`, ['lint', '--source-dir', `${root}dist/extension`, '--output', 'json'], {
        env: { ...process.env, NO_UPDATE_NOTIFIER: '1' },
        maxBuffer: 16 * 1024 * 1024,
      }, (err, stdout, stderr) => (stdout ? resolve(stdout) : reject(new Error(`web-ext lint: ${err?.message ?? ''} ${stderr}`))));
    });
    const report = JSON.parse(out) as { errors: { code: string; message: string }[]; warnings: { code: string; message: string }[] };
    expect(report.errors, JSON.stringify(report.errors)).toEqual([]);
    expect(report.warnings.map((w) => w.code)).toEqual(['BACKGROUND_SERVICE_WORKER_IGNORED']);
  }, 120_000);
});
