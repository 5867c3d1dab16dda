import { spawn } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { UNEXPECTED_ERROR_MARKER, unexpectedErrorsIn } from '../shared/util/index.ts';

/**
 * The net in a real Node process (tsx, as bin/telescope.js runs the commands): a throw from a
 * timer and an unhandled rejection are logged with the marker and counted, and the process goes on
 * to finish its work and exit 0. Without the net the first throw ends it with code 1.
 */
const SCRIPT = `
import { UnexpectedErrors } from './shared/util/index.ts';
import { installProcessNet } from './node-platform/process-net.ts';
const log = { debug() {}, info() {}, notice: (m) => console.log('[notice] ' + m), warn: (m) => console.log('[warn] ' + m) };
const unexpected = new UnexpectedErrors(log);
if (process.env.WITH_NET === '1') installProcessNet(unexpected);
setTimeout(() => { throw new TypeError('a socket handler bug'); }, 5);
setTimeout(() => { void Promise.reject(new RangeError('a promise nobody awaited')); }, 10);
setTimeout(() => { log.notice('still serving; ' + unexpected.summary()); }, 50);
`;

function run(withNet: boolean): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', SCRIPT], {
      cwd: new URL('..', import.meta.url).pathname,
      env: { ...process.env, WITH_NET: withNet ? '1' : '0' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (c: Buffer) => { out += c.toString(); });
    child.stderr.on('data', (c: Buffer) => { out += c.toString(); });
    const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
    child.once('error', reject);
    child.once('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, out });
    });
  });
}

describe('installProcessNet', () => {
  it('logs and counts an uncaught exception and an unhandled rejection; the process carries on', async () => {
    const { code, out } = await run(true);
    expect(code, out).toBe(0);
    expect(out.match(new RegExp(UNEXPECTED_ERROR_MARKER, 'g'))).toHaveLength(2);
    expect(out).toContain('uncaughtException');
    expect(out).toContain('a socket handler bug');
    expect(out).toContain('unhandledRejection');
    expect(out).toContain('still serving; unexpected errors caught: 2');
    expect(unexpectedErrorsIn(out)).toBe(2);
  }, 40_000);

  it('without it, the first throw ends the process (what the net is for)', async () => {
    const { code, out } = await run(false);
    expect(code).not.toBe(0);
    expect(out).not.toContain('still serving');
  }, 40_000);
});
