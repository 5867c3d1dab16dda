import { afterAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DESCRIPTION_FILE, DescriptionDraft, readDescription } from './description.ts';
import { TestnetError } from './errors.ts';
import { describeWebPaths } from './web-content.ts';

const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});
const tempDir = (): string => {
  const d = mkdtempSync(join(tmpdir(), 'telescope-description-'));
  dirs.push(d);
  return d;
};

// Building the bodies to digest them takes a moment: once for all tests.
const webPaths = describeWebPaths();

function draft(dir: string, ownerPid?: number): DescriptionDraft {
  return new DescriptionDraft({
    dir,
    torVersion: '0.4.9.9',
    startedAt: new Date('2026-12-03T13:00:00Z'),
    ownerPid,
    onionNickname: 'test008h',
    client: { nickname: 'test009c', socksPort: 9050 },
    webPaths,
  });
}

describe('network description', () => {
  it('has the fields of network.json in their order, ownerPid only for an owned network', () => {
    // Networks already running and every consumer read this format: fields are only ever added.
    const fields = ['dir', 'torVersion', 'authorities', 'relays', 'onionService', 'client', 'web', 'pids', 'processes', 'votingIntervalSeconds', 'startedAt', 'ready'];
    expect(Object.keys(draft('/tmp/tn').snapshot(false))).toEqual(fields);
    const owned = draft('/tmp/tn', 1234).snapshot(false);
    expect(Object.keys(owned)).toEqual([...fields.slice(0, -1), 'ownerPid', 'ready']);
    expect(owned.ownerPid).toBe(1234);
  });

  it('records processes as they start, then the web ports, relays and onion address', () => {
    const d = draft('/tmp/tn');
    d.addProcess({ nickname: 'web', kind: 'web', pid: 11, dir: '/tmp/tn/web', log: '/tmp/tn/web/web.log' });
    d.addProcess({ nickname: 'test000a', kind: 'authority', pid: 12, dir: '/tmp/tn/test000a', log: '/tmp/tn/test000a/notice.log' });
    const early = d.snapshot(false);
    expect(early.pids).toEqual([11, 12]);
    expect(early.processes.map((p) => p.nickname)).toEqual(['web', 'test000a']);
    expect(early.onionService).toEqual({ nickname: 'test008h', address: '', port: 80 });
    expect(early.web).toMatchObject({ address: '127.0.0.1', port: 0, dnsPort: 0 });
    d.setWeb({ http: 8080, dns: 5353 });
    d.setOnionAddress(`${'a'.repeat(56)}.onion`);
    const done = d.snapshot(true);
    expect(done).toMatchObject({ ready: true, web: { port: 8080, dnsPort: 5353 }, onionService: { address: `${'a'.repeat(56)}.onion` }, votingIntervalSeconds: 20, startedAt: '2026-12-03T13:00:00.000Z' });
    expect(done.web.paths['/hello'].size).toBeGreaterThan(0);
  });

  it('is written whole and read back; a missing file is no network, a broken one an error', async () => {
    const dir = tempDir();
    expect(readDescription(dir)).toBeUndefined();
    const written = await draft(dir).write(false);
    expect(readDescription(dir)).toEqual(written);
    writeFileSync(join(dir, DESCRIPTION_FILE), '{ half');
    expect(() => readDescription(dir)).toThrow(TestnetError);
  });
});
