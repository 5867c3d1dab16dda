import { describe, expect, it } from 'vitest';
import { EndReason } from '../cells/index.ts';
import type { Circuit } from '../circuit/index.ts';
import { NoPathError } from '../path/index.ts';
import type { TorStream } from '../stream/index.ts';
import { CircuitError, StreamError, silentLogger } from '../util/index.ts';
import type { ManagedCircuit } from './circuit-manager.ts';
import { MAX_CIRCUITS_PER_STREAM, openExitStream, type StreamCircuits } from './exit-stream.ts';

/** A circuit whose BEGIN ends as `outcome` says: a stream, or the error the exit's END gives. */
function fakeCircuit(id: number, outcome: 'ok' | Error): ManagedCircuit {
  const circuit = {
    id,
    openStream: async () => {
      if (outcome === 'ok') return { id: 1 } as unknown as TorStream;
      throw outcome;
    },
  } as unknown as Circuit;
  return { circuit, path: [], isolationKey: undefined, purpose: 'exit' };
}

/** A circuit manager answering each get() with the next scripted circuit or build failure. */
function scripted(script: (ManagedCircuit | Error)[], closed = () => false): StreamCircuits & { excluded: number[] } {
  const excluded: number[] = [];
  return {
    excluded,
    get isClosed() {
      return closed();
    },
    async get(_port: number | undefined, _key: string, exclude: ReadonlySet<Circuit> = new Set()) {
      excluded.push(exclude.size);
      const next = script.shift();
      if (next === undefined) throw new Error('the test asked for more circuits than it scripted');
      if (next instanceof Error) throw next;
      return next;
    },
  };
}

const opts = { isolationKey: 'k', log: silentLogger };

describe('openExitStream', () => {
  it('keeps trying after failed circuit builds, as a network with freshly dead relays needs', async () => {
    const builds = Array.from({ length: 5 }, () => new CircuitError('could not build a circuit for port 80 in 4 attempts'));
    const good = fakeCircuit(7, 'ok');
    const mgr = scripted([...builds, good]);
    const { circuit } = await openExitStream(mgr, 'example.com', 80, opts);
    expect(circuit).toBe(good);
  });

  it('moves on from an exit that refuses for a retriable reason, leaving its circuit out', async () => {
    const refusing = fakeCircuit(1, new StreamError('END EXITPOLICY', EndReason.EXITPOLICY));
    const destroyed = fakeCircuit(2, new CircuitError('circuit destroyed'));
    const good = fakeCircuit(3, 'ok');
    const mgr = scripted([refusing, destroyed, good]);
    const { circuit } = await openExitStream(mgr, 'example.com', 80, opts);
    expect(circuit).toBe(good);
    expect(mgr.excluded).toEqual([0, 1, 2]);
  });

  it('gives the exit\'s answer at once when another exit would say the same', async () => {
    const refused = new StreamError('END CONNECTREFUSED', EndReason.CONNECTREFUSED);
    const mgr = scripted([fakeCircuit(1, refused)]);
    await expect(openExitStream(mgr, 'example.com', 80, opts)).rejects.toBe(refused);
  });

  it('stops at once when no path can exist or the client is closing', async () => {
    const noPath = new NoPathError('no usable exit for port 80 among 3 relays', 'exit');
    await expect(openExitStream(scripted([noPath]), 'example.com', 80, opts)).rejects.toBe(noPath);
    const closing = new CircuitError('client is shutting down');
    await expect(openExitStream(scripted([closing], () => true), 'example.com', 80, opts)).rejects.toBe(closing);
  });

  it('gives up after its circuit budget with the last failure', async () => {
    const failures = Array.from({ length: MAX_CIRCUITS_PER_STREAM }, (_, i) => new CircuitError(`build ${i} failed`));
    await expect(openExitStream(scripted(failures), 'example.com', 80, opts)).rejects.toBe(failures.at(-1));
  });

  it('gives up once its time is over, whatever budget is left', async () => {
    let t = 0;
    const slowFailures = Array.from({ length: 3 }, () => new CircuitError('build failed'));
    const mgr: StreamCircuits = {
      isClosed: false,
      async get() {
        t += 50_000; // each build takes 50 s of the (injected) clock
        throw slowFailures.shift()!;
      },
    };
    await expect(openExitStream(mgr, 'example.com', 80, { ...opts, timeoutMs: 120_000, now: () => t })).rejects.toThrow('build failed');
    expect(t).toBe(150_000);
  });
});
