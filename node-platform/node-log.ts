import { appendFileSync } from 'node:fs';
import type { Logger } from '../shared/util/index.ts';
import { ConfigError } from '../shared/config/index.ts';

/**
 * tor-style logging for the Node commands: `Log SEVERITY[-SEVERITY] stdout|stderr|file PATH`
 * lines, each message as "Nov 25 22:53:07.000 [notice] text". Severities: debug, info, notice,
 * warn (tor's "err" is accepted and treated as warn).
 */

const LEVELS = ['debug', 'info', 'notice', 'warn', 'err'] as const;
type Level = (typeof LEVELS)[number];

interface Sink {
  readonly min: number;
  readonly max: number;
  write(line: string): void;
}

function levelIndex(name: string, line: string): number {
  const i = LEVELS.indexOf(name.toLowerCase() as Level);
  if (i < 0) throw new ConfigError(`Log: unknown severity '${name}' in '${line}' (use debug, info, notice, warn or err)`);
  return i;
}

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'] as const;

/** "Nov 25 22:53:07.000" in UTC. No Intl call: toLocaleString cost ~100 µs a line. */
function timestamp(d: Date): string {
  const month = MONTHS[d.getUTCMonth()]!;
  const p = (n: number, w = 2) => String(n).padStart(w, '0');
  return `${month} ${p(d.getUTCDate())} ${p(d.getUTCHours())}:${p(d.getUTCMinutes())}:${p(d.getUTCSeconds())}.${p(d.getUTCMilliseconds(), 3)}`;
}

/**
 * Build a logger from Log lines; with none, notice and above go to stdout (tor's default). A
 * message at a severity no line takes costs nothing beyond the call: no timestamp, no line (the
 * relay logs info lines on paths a flooding peer drives; formatting them for nobody once took half
 * its CPU under a CREATE flood). `now` is for tests.
 */
export function loggerFromLogLines(lines: readonly string[], now: () => Date = () => new Date()): Logger {
  const sinks: Sink[] = [];
  for (const line of lines.length > 0 ? lines : ['notice stdout']) {
    const [range, where, ...rest] = line.trim().split(/\s+/);
    if (!range || !where) throw new ConfigError(`Log: expected 'SEVERITY stdout|stderr|file PATH', got '${line}'`);
    const [lo, hi] = range.split('-');
    const min = levelIndex(lo!, line);
    const max = hi ? levelIndex(hi, line) : LEVELS.length - 1;
    if (where === 'stdout') sinks.push({ min, max, write: (l) => process.stdout.write(`${l}\n`) });
    else if (where === 'stderr') sinks.push({ min, max, write: (l) => process.stderr.write(`${l}\n`) });
    else if (where === 'file' && rest.length > 0) {
      const path = rest.join(' ');
      sinks.push({ min, max, write: (l) => appendFileSync(path, `${l}\n`) });
    } else throw new ConfigError(`Log: unknown destination in '${line}' (use stdout, stderr or file PATH)`);
  }
  const wanted = LEVELS.map((_, level) => sinks.some((s) => level >= s.min && level <= s.max));
  const emit = (level: number, message: string) => {
    if (!wanted[level]) return;
    const line = `${timestamp(now())} [${LEVELS[level]}] ${message}`;
    for (const s of sinks) if (level >= s.min && level <= s.max) s.write(line);
  };
  return {
    debug: (m) => emit(0, m),
    info: (m) => emit(1, m),
    notice: (m) => emit(2, m),
    warn: (m) => emit(3, m),
  };
}
