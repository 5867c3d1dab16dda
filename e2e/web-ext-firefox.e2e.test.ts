import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

/**
 * Firefox loads the built extension: `web-ext run` installs it as a temporary add-on into a fresh
 * profile of Debian's firefox-esr (headless), and says so. Firefox is kept off the network: the
 * profile's prefs send every connection to a closed loopback port and turn off DNS, updates,
 * telemetry and the other background services; and where the kernel lets us, Firefox and web-ext
 * run in their own network namespace, which has nothing but loopback.
 */
const root = fileURLToPath(new URL('..', import.meta.url));
const FIREFOX = process.env.FIREFOX_PATH ?? '/usr/bin/firefox-esr';

/** A closed loopback port (discard, unused here) that takes every proxied connection. */
const NOWHERE = '127.0.0.1';
const NOWHERE_PORT = 9;

/** Prefs on top of web-ext's own (which already turn off extension updates and data submission). */
const OFFLINE_PREFS: Record<string, string | number | boolean> = {
  'network.proxy.type': 1,
  'network.proxy.http': NOWHERE,
  'network.proxy.http_port': NOWHERE_PORT,
  'network.proxy.ssl': NOWHERE,
  'network.proxy.ssl_port': NOWHERE_PORT,
  'network.proxy.socks': NOWHERE,
  'network.proxy.socks_port': NOWHERE_PORT,
  'network.proxy.socks_remote_dns': true,
  'network.dns.disabled': true,
  'network.dns.disablePrefetch': true,
  'network.trr.mode': 5,
  'network.prefetch-next': false,
  'network.predictor.enabled': false,
  'network.captive-portal-service.enabled': false,
  'network.connectivity-service.enabled': false,
  'app.update.auto': false,
  'app.update.disabledForTesting': true,
  'app.normandy.enabled': false,
  'app.shield.optoutstudies.enabled': false,
  'toolkit.telemetry.enabled': false,
  'toolkit.telemetry.unified': false,
  'toolkit.telemetry.archive.enabled': false,
  'datareporting.healthreport.uploadEnabled': false,
  'browser.ping-centre.telemetry': false,
  'browser.newtabpage.enabled': false,
  'browser.newtabpage.activity-stream.feeds.telemetry': false,
  'browser.newtabpage.activity-stream.telemetry': false,
  'browser.safebrowsing.malware.enabled': false,
  'browser.safebrowsing.phishing.enabled': false,
  'browser.safebrowsing.downloads.enabled': false,
  'browser.safebrowsing.blockedURIs.enabled': false,
  'browser.search.update': false,
  'browser.region.update.enabled': false,
  'browser.region.network.url': '',
  'extensions.systemAddon.update.enabled': false,
  'extensions.blocklist.enabled': false,
  'media.gmp-manager.updateEnabled': false,
  'messaging-system.rsexperimentloader.enabled': false,
  'services.settings.server': `http://${NOWHERE}:${NOWHERE_PORT}/v1`,
  'security.OCSP.enabled': 0,
  'security.remote_settings.crlite_filters.enabled': false,
  'security.remote_settings.intermediates.enabled': false,
  'geo.provider.network.url': '',
};

/** Whether this machine lets an unprivileged process have its own (loopback-only) network namespace. */
function canIsolateNetwork(): boolean {
  return spawnSync('unshare', ['-rn', 'sh', '-c', 'ip link set lo up'], { stdio: 'ignore' }).status === 0;
}

/** Child processes of `pid`, from /proc (Linux). */
function childrenOf(pid: number): number[] {
  const out: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      // /proc/PID/stat: "pid (comm) state ppid …"; comm may hold spaces, so read after the last ')'.
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid === pid) out.push(Number(entry));
    } catch {
      // The process ended while we looked: it is nobody's child any more.
    }
  }
  return out;
}

const exited = (child: ChildProcess) => new Promise<number | null>((r) => (child.exitCode !== null ? r(child.exitCode) : child.once('exit', (code) => r(code))));

describe('web-ext run (Firefox)', () => {
  it('installs the built extension as a temporary add-on in headless firefox-esr', async (ctx) => {
    if (!existsSync(FIREFOX)) ctx.skip(`${FIREFOX} is not installed (apt-get install -y firefox-esr): Firefox loading is not checked`);
    if (!existsSync(`${root}dist/extension/manifest.json`)) throw new Error('no built extension in dist/extension: run npm run build');
    const webExt = [
      `${root}node_modules/.bin/web-ext`, 'run',
      '--target', 'firefox-desktop',
      '--firefox', FIREFOX,
      '--source-dir', `${root}dist/extension`,
      '--no-input', '--no-reload', '--no-config-discovery',
      '--args=-headless',
      ...Object.entries(OFFLINE_PREFS).map(([k, v]) => `--pref=${k}=${String(v)}`),
    ];
    const isolated = canIsolateNetwork();
    // In the namespace, loopback starts down: web-ext talks to Firefox's debugger over it.
    const [cmd, ...args] = isolated ? ['unshare', '-rn', 'sh', '-c', 'ip link set lo up && exec "$0" "$@"', ...webExt] : webExt;
    const child = spawn(cmd!, args, { env: { ...process.env, NO_UPDATE_NOTIFIER: '1', MOZ_CRASHREPORTER_DISABLE: '1' }, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout!.on('data', (c: Buffer) => { out += c.toString(); });
    child.stderr!.on('data', (c: Buffer) => { out += c.toString(); });
    try {
      const deadline = Date.now() + 90_000;
      while (!/Installed .* as a temporary add-on/.test(out) && child.exitCode === null && Date.now() < deadline) await new Promise((r) => setTimeout(r, 200));
      expect(out, `${isolated ? '(own network namespace) ' : ''}${out}`).toMatch(new RegExp(`Installed ${root}dist/extension as a temporary add-on`));
      expect(out).not.toMatch(/error/i);
    } finally {
      // Stopping Firefox makes web-ext clean up and exit; stopping web-ext first would leave
      // Firefox running on its own. (`exec` above made the spawned process web-ext itself.)
      for (const pid of childrenOf(child.pid!)) process.kill(pid, 'SIGTERM');
      const code = await Promise.race([exited(child), new Promise<'timeout'>((r) => setTimeout(() => r('timeout'), 20_000))]);
      if (code === 'timeout') child.kill('SIGKILL');
    }
  }, 150_000);
});
