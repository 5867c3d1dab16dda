// Preloaded (node --import) into a relay-bridge that the hostile tests start as an exit: its host
// name lookups go to the private network's loopback DNS responder (TELESCOPE_HOSTILE_DNS_PORT on
// 127.0.0.1, the one the tor exits use) instead of the system resolver, whose server is not on
// this machine. The relay's code is unchanged: node:dns's lookup, which the exit calls, is
// replaced for the whole process before the relay's modules load. Tests send name lookups through
// the bridge only after they have seen the line this prints.
import dns from 'node:dns';
import { isIP } from 'node:net';
import { syncBuiltinESMExports } from 'node:module';

const port = Number(process.env.TELESCOPE_HOSTILE_DNS_PORT);
if (!Number.isInteger(port) || port <= 0 || port > 65535) {
  console.error('loopback-resolver: TELESCOPE_HOSTILE_DNS_PORT is not a port; refusing to start');
  process.exit(2);
}
const resolver = new dns.promises.Resolver({ timeout: 2000, tries: 1 });
resolver.setServers([`127.0.0.1:${port}`]);

/** dns.lookup's answer shape from the loopback responder's A and AAAA records. */
async function lookup(host, options = {}) {
  const opts = typeof options === 'number' ? { family: options } : options;
  let answers;
  if (isIP(host) !== 0) answers = [{ address: host, family: isIP(host) }];
  else {
    const settle = (p, family) => p.then((list) => list.map((address) => ({ address, family })), () => []);
    const [v4, v6] = await Promise.all([
      opts.family === 6 ? [] : settle(resolver.resolve4(host), 4),
      opts.family === 4 ? [] : settle(resolver.resolve6(host), 6),
    ]);
    answers = [...v4, ...v6];
  }
  if (answers.length === 0) {
    const e = new Error(`getaddrinfo ENOTFOUND ${host}`);
    e.code = 'ENOTFOUND';
    e.hostname = host;
    throw e;
  }
  return opts.all ? answers : answers[0];
}

function lookupCallback(host, options, callback) {
  const cb = typeof options === 'function' ? options : callback;
  const opts = typeof options === 'function' ? {} : options;
  lookup(host, opts).then(
    (r) => (Array.isArray(r) ? cb(null, r) : cb(null, r.address, r.family)),
    (e) => cb(e),
  );
}

dns.promises.lookup = lookup;
dns.lookup = lookupCallback;
syncBuiltinESMExports();
console.log(`[notice] loopback-resolver: host names are looked up at 127.0.0.1:${port} only`);
