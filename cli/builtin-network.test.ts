import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ConfigError } from '../shared/config/index.ts';
import { PUBLIC_NETWORK } from '../shared/directory/index.ts';
import { BUILTIN_NETWORK_ENV, builtinNetwork } from './builtin-network.ts';

const dirs: string[] = [];
afterEach(async () => { for (const d of dirs.splice(0)) await rm(d, { recursive: true, force: true }); });

const file = async (text: string): Promise<string> => {
  const dir = await mkdtemp(join(tmpdir(), 'telescope-builtin-env-'));
  dirs.push(dir);
  await writeFile(join(dir, 'network'), text);
  return join(dir, 'network');
};

describe('TELESCOPE_BUILTIN_NETWORK', () => {
  it('unset or empty: the public network', () => {
    expect(builtinNetwork({})).toBe(PUBLIC_NETWORK);
    expect(builtinNetwork({ [BUILTIN_NETWORK_ENV]: '' })).toBe(PUBLIC_NETWORK);
  });

  it('a file of DirAuthority and FallbackDir lines replaces it', async () => {
    const path = await file([
      'DirAuthority a orport=5000 v3ident=4C0AD9A0BB4A24C1D9F7FA2A8CFF8A1EB1A57B57 127.0.0.1:7000 4352E58420E68F5E40BF7C74FADDCCD9D1349413',
      'FallbackDir 127.0.0.2 orport=5001 id=EF8DF732D0F307F63011B81CA44257E30BEF2B5C',
    ].join('\n'));
    const net = builtinNetwork({ [BUILTIN_NETWORK_ENV]: path });
    expect(net.authorities.map((a) => [a.nickname, a.orPort])).toEqual([['a', 5000]]);
    expect(net.fallbacks.map((f) => [f.address, f.orPort])).toEqual([['127.0.0.2', 5001]]);
  });

  it('a missing or malformed file is a ConfigError naming the variable and the file', async () => {
    const missing = join(tmpdir(), 'telescope-no-such-network-file');
    expect(() => builtinNetwork({ [BUILTIN_NETWORK_ENV]: missing })).toThrow(ConfigError);
    expect(() => builtinNetwork({ [BUILTIN_NETWORK_ENV]: missing })).toThrow(`${BUILTIN_NETWORK_ENV}=${missing}: cannot read it`);
    const bad = await file('SocksPort 9050\n');
    expect(() => builtinNetwork({ [BUILTIN_NETWORK_ENV]: bad })).toThrow(`${BUILTIN_NETWORK_ENV}=${bad}: line 1: unknown option 'SocksPort'`);
  });
});
