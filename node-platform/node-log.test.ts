import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { loggerFromLogLines } from './node-log.ts';

/** The Node commands' tor-style logger, writing to a file sink in a temporary directory. */

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function fileSink(): string {
  const dir = mkdtempSync(join(tmpdir(), 'telescope-log-'));
  dirs.push(dir);
  return join(dir, 'log');
}

describe('loggerFromLogLines', () => {
  it('writes tor-style lines with a UTC timestamp for the severities its lines take', () => {
    const path = fileSink();
    const log = loggerFromLogLines([`notice-warn file ${path}`], () => new Date(Date.UTC(2025, 10, 5, 2, 3, 7, 9)));
    log.notice('up');
    log.warn('careful');
    log.info('not taken');
    expect(readFileSync(path, 'utf8')).toBe('Nov 05 02:03:07.009 [notice] up\nNov 05 02:03:07.009 [warn] careful\n');
  });

  it('does no work for a message at a severity no line takes (no clock read, no timestamp)', () => {
    // A relay logs info lines on paths a flooding peer drives: with "Log notice" they must cost
    // nothing. Counted as clock reads: each formatted line reads the clock once.
    const path = fileSink();
    let clockReads = 0;
    const log = loggerFromLogLines([`notice file ${path}`], () => { clockReads++; return new Date(0); });
    for (let i = 0; i < 1000; i++) {
      log.info(`refusing a circuit ${i}`);
      log.debug('detail');
    }
    expect(clockReads).toBe(0);
    log.notice('one');
    expect(clockReads).toBe(1);
    expect(readFileSync(path, 'utf8')).toBe('Jan 01 00:00:00.000 [notice] one\n');
  });
});
