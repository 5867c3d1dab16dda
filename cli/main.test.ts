import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';

/**
 * TELESCOPE_OWNER_PID in a real `telescope` process: a relay whose (closed, loopback) authority
 * cannot be reached keeps running on its own (a client would give up: "cannot reach the Tor
 * network"), and stops once the process named as its owner is SIGKILLed. No time is asserted: the test waits for the exit, bounded only by the test timeout.
 */
const projectRoot = new URL('..', import.meta.url).pathname;
const started: ChildProcess[] = [];
const dirs: string[] = [];

afterEach(async () => {
  for (const c of started.splice(0)) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  for (const d of dirs.splice(0)) await rm(d, { recursive: true, force: true });
});

function telescope(args: string[], env: NodeJS.ProcessEnv): { child: ChildProcess; output: () => string; exited: Promise<number | null> } {
  const child = spawn(process.execPath, ['bin/telescope.js', ...args], { cwd: projectRoot, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  started.push(child);
  let out = '';
  child.stdout!.on('data', (c: Buffer) => { out += c.toString(); });
  child.stderr!.on('data', (c: Buffer) => { out += c.toString(); });
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  return { child, output: () => out, exited };
}

async function relayTorrc(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'telescope-owner-'));
  dirs.push(dir);
  const torrc = join(dir, 'torrc');
  // Port 9 on loopback: nothing listens, so the relay has no directory but serves on regardless.
  await writeFile(torrc, [
    'ORPort 127.0.0.1:auto',
    'PublishServerDescriptor 0',
    'ContactInfo test',
    `DataDirectory ${dir}/data`,
    'DirAuthority test orport=9 v3ident=0000000000000000000000000000000000000000 127.0.0.1:9 0000 0000 0000 0000 0000 0000 0000 0000 0000 0000',
    '',
  ].join('\n'));
  return torrc;
}

describe('TELESCOPE_OWNER_PID', () => {
  it('stops the command once its owner is SIGKILLed', async () => {
    const owner = spawn('sleep', ['600'], { stdio: 'ignore' });
    started.push(owner);
    const relay = telescope(['relay', '-f', await relayTorrc()], { TELESCOPE_OWNER_PID: String(owner.pid) });
    // Running: it got as far as its ORPort and fingerprint.
    while (!relay.output().includes("Your relay's fingerprint") && relay.child.exitCode === null) await new Promise((r) => setTimeout(r, 100));
    expect(relay.child.exitCode, relay.output()).toBeNull();
    owner.kill('SIGKILL');
    await relay.exited;
    expect(relay.output()).toContain(`owning process ${owner.pid} is gone`);
  }, 60_000);

  it('refuses a value that is no process id', async () => {
    const run = telescope(['selfcheck'], { TELESCOPE_OWNER_PID: 'me' });
    expect(await run.exited).toBe(2);
    expect(run.output()).toContain("TELESCOPE_OWNER_PID must be a process id, not 'me'");
  }, 60_000);
});
