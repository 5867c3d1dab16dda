import { ConfigError, parseTorrc, readTorrcEntries, type Schema, type TorrcConfig, type TorrcEntry } from './torrc.ts';

/**
 * The onion-service part of a torrc (tor's manual, "HIDDEN SERVICE OPTIONS"): each HiddenServiceDir
 * line starts a service and the HiddenService* lines after it configure that service, so these
 * options are grouped by position, unlike every other option. The rest of the file is parsed with
 * the caller's schema; line numbers in errors are those of the file.
 */

export interface HiddenServicePort {
  /** The port clients ask for (BEGIN ":port"). */
  readonly virtualPort: number;
  /** Where its streams go; tor's default is the same port on 127.0.0.1. */
  readonly target: { readonly host: string; readonly port: number };
}

export interface HiddenServiceConfig {
  /** Where the service keeps its keys and hostname file (relative paths are the host's to resolve). */
  readonly dir: string;
  readonly ports: readonly HiddenServicePort[];
  /** HiddenServiceNumIntroductionPoints: 3 by default, 1–20. */
  readonly numIntroductionPoints: number;
  /** HiddenServiceMaxStreams: per rendezvous circuit, 0 = unlimited. */
  readonly maxStreams: number;
  /** HiddenServiceMaxStreamsCloseCircuit: close the circuit instead of refusing the stream. */
  readonly maxStreamsCloseCircuit: boolean;
  /** Line of the HiddenServiceDir entry, for messages. */
  readonly line: number;
}

const SERVICE_OPTIONS = new Set(['hiddenservicedir', 'hiddenserviceport', 'hiddenservicenumintroductionpoints', 'hiddenservicemaxstreams', 'hiddenservicemaxstreamsclosecircuit', 'hiddenserviceversion']);

function portNumber(text: string, what: string, e: TorrcEntry): number {
  if (!/^\d{1,5}$/.test(text) || Number(text) < 1 || Number(text) > 65535) throw new ConfigError(`${what} "${text}" is not a port number 1-65535`, e.line, e.text);
  return Number(text);
}

function parsePortLine(e: TorrcEntry): HiddenServicePort {
  const parts = e.value.trim().split(/\s+/);
  if (parts.length < 1 || parts.length > 2 || parts[0] === '') throw new ConfigError('HiddenServicePort takes VIRTPORT [TARGET]', e.line, e.text);
  const virtualPort = portNumber(parts[0]!, 'HiddenServicePort virtual port', e);
  const target = parts[1];
  if (target === undefined) return { virtualPort, target: { host: '127.0.0.1', port: virtualPort } };
  if (/^unix:/i.test(target)) throw new ConfigError('HiddenServicePort unix: targets are not supported; give ADDR:PORT', e.line, e.text);
  if (/^\d+$/.test(target)) return { virtualPort, target: { host: '127.0.0.1', port: portNumber(target, 'HiddenServicePort target port', e) } };
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^:[\]]+)):(\d+)$/.exec(target);
  if (!m) throw new ConfigError(`HiddenServicePort target "${target}" is not PORT or ADDR:PORT`, e.line, e.text);
  return { virtualPort, target: { host: m[1] ?? m[2]!, port: portNumber(m[3]!, 'HiddenServicePort target port', e) } };
}

function intIn(e: TorrcEntry, min: number, max: number): number {
  if (!/^\d+$/.test(e.value) || Number(e.value) < min || Number(e.value) > max) throw new ConfigError(`${e.key} must be an integer from ${min} to ${max}`, e.line, e.text);
  return Number(e.value);
}

export function parseOnionServiceConfig<const S extends Schema>(text: string, schema: S): { config: TorrcConfig<S>; services: HiddenServiceConfig[] } {
  const entries = readTorrcEntries(text);
  const services: { dir: string; line: number; ports: HiddenServicePort[]; numIntroductionPoints: number; maxStreams: number; maxStreamsCloseCircuit: boolean }[] = [];
  const lines = text.replace(/\r\n/g, '\n').split('\n');
  for (const e of entries) {
    const key = e.key.toLowerCase();
    if (!SERVICE_OPTIONS.has(key)) continue;
    // Blank the entry so the rest of the file parses with the caller's schema, lines unchanged.
    const n = e.text.split('\n').length;
    for (let i = e.line - 1; i < e.line - 1 + n; i++) lines[i] = '';
    if (key === 'hiddenservicedir') {
      if (e.value.trim() === '') throw new ConfigError('HiddenServiceDir needs a directory', e.line, e.text);
      if (services.some((s) => s.dir === e.value.trim())) throw new ConfigError(`HiddenServiceDir ${e.value.trim()} is configured twice`, e.line, e.text);
      services.push({ dir: e.value.trim(), line: e.line, ports: [], numIntroductionPoints: 3, maxStreams: 0, maxStreamsCloseCircuit: false });
      continue;
    }
    const current = services[services.length - 1];
    if (!current) throw new ConfigError(`${e.key} must come after a HiddenServiceDir line (it configures that service)`, e.line, e.text);
    if (key === 'hiddenserviceport') current.ports.push(parsePortLine(e));
    else if (key === 'hiddenservicenumintroductionpoints') current.numIntroductionPoints = intIn(e, 1, 20);
    else if (key === 'hiddenservicemaxstreams') current.maxStreams = intIn(e, 0, 65535);
    else if (key === 'hiddenservicemaxstreamsclosecircuit') current.maxStreamsCloseCircuit = intIn(e, 0, 1) === 1;
    else if (key === 'hiddenserviceversion' && e.value.trim() !== '3') throw new ConfigError('HiddenServiceVersion: only version 3 exists', e.line, e.text);
  }
  for (const s of services) {
    if (s.ports.length === 0) throw new ConfigError(`HiddenServiceDir ${s.dir} has no HiddenServicePort lines`, s.line);
  }
  return { config: parseTorrc(lines.join('\n'), schema), services };
}
