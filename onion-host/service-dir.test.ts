import { describe, expect, it } from 'vitest';
import { mkdtemp, readFile, writeFile, mkdir, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { toBase32 } from '../shared/bytes/index.ts';
import { loadOrCreateServiceIdentity, readAuthorizedClients } from './service-dir.ts';

describe('HiddenServiceDir', () => {
  it('makes an identity once, in tor\'s file layout, and finds the same one again', async () => {
    const dir = join(await mkdtemp(join(tmpdir(), 'telescope-hs-')), 'svc');
    const a = await loadOrCreateServiceIdentity(dir);
    expect(a.hostname).toMatch(/^[a-z2-7]{56}\.onion$/);
    expect(await readFile(join(dir, 'hostname'), 'utf8')).toBe(`${a.hostname}\n`);
    const secret = await readFile(join(dir, 'hs_ed25519_secret_key'));
    expect(secret.subarray(0, 29).toString('latin1')).toBe('== ed25519v1-secret: type0 ==');
    expect(secret.length).toBe(96);
    expect((await stat(dir)).mode & 0o777).toBe(0o700);
    const b = await loadOrCreateServiceIdentity(dir);
    expect(b.hostname).toBe(a.hostname);
  });

  it('reads authorized clients, naming the file when one is wrong', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'telescope-hs-'));
    expect(await readAuthorizedClients(dir)).toEqual([]);
    await mkdir(join(dir, 'authorized_clients'));
    const key = new Uint8Array(32).fill(7);
    await writeFile(join(dir, 'authorized_clients', 'alice.auth'), `descriptor:x25519:${toBase32(key).toUpperCase()}\n`);
    expect(await readAuthorizedClients(dir)).toEqual([key]);
    await writeFile(join(dir, 'authorized_clients', 'bob.auth'), 'descriptor:x25519:AAAA\n');
    await expect(readAuthorizedClients(dir)).rejects.toThrow(/bob\.auth: an x25519 key is 32 bytes/);

  });
});
