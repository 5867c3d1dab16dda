#!/usr/bin/env node
// The `pre` step of `npm start` and `npm test`: installs what a fresh clone is missing, so the
// README's two commands work on a new machine. Plain .mjs (no TypeScript) because it runs before
// the npm packages that would compile TypeScript are installed.
//
//   npm packages   -> `npm ci` when node_modules is missing or older than package-lock.json
//   Debian chromium -> `apt-get install chromium` when /usr/bin/chromium is missing (browser tests)
//   Debian tor, curl -> the private tor network and the SOCKS application of the interop tests
//   Debian firefox-esr -> the extension loads in Firefox (web-ext run, headless)
//
// Set TELESCOPE_SKIP_APT=1 to never call apt-get (then a missing package is reported, not installed).
import { execFileSync } from 'node:child_process';
import { existsSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');

function run(cmd, args, env = {}) {
  console.log(`[ensure-deps] ${cmd} ${args.join(' ')}`);
  execFileSync(cmd, args, { cwd: root, stdio: 'inherit', env: { ...process.env, ...env } });
}

function npmPackages() {
  const marker = join(root, 'node_modules', '.package-lock.json');
  const lock = join(root, 'package-lock.json');
  if (existsSync(marker) && statSync(marker).mtimeMs >= statSync(lock).mtimeMs) return;
  run('npm', ['ci', '--no-audit', '--no-fund']);
}

/** Debian packages and the executables that show they are installed. */
const DEBIAN = [
  { pkg: 'chromium', bin: '/usr/bin/chromium' },
  { pkg: 'tor', bin: '/usr/bin/tor-gencert' },
  { pkg: 'curl', bin: '/usr/bin/curl' },
  { pkg: 'firefox-esr', bin: '/usr/bin/firefox-esr' },
  { pkg: 'openssl', bin: '/usr/bin/openssl' },
  { pkg: 'iproute2', bin: '/usr/bin/ss' },
];

function debianPackages() {
  const missing = DEBIAN.filter((d) => !existsSync(d.bin));
  if (missing.length === 0) return;
  const names = missing.map((d) => d.pkg);
  const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;
  if (process.env.TELESCOPE_SKIP_APT === '1' || !isRoot) {
    console.error(`[ensure-deps] missing Debian package(s): ${names.join(', ')}; install them with: sudo apt-get install ${names.join(' ')}`);
    process.exit(1);
  }
  const env = { DEBIAN_FRONTEND: 'noninteractive' };
  // Installing tor must not start the system tor service, which would join the public network.
  if (names.includes('tor') && !existsSync('/usr/sbin/policy-rc.d')) {
    writeFileSync('/usr/sbin/policy-rc.d', '#!/bin/sh\nexit 101\n', { mode: 0o755 });
  }
  run('apt-get', ['update', '-qq'], env);
  run('apt-get', ['install', '-y', '-qq', '--no-install-recommends', ...names], env);
}

npmPackages();
debianPackages();
