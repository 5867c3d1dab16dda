import { TelescopeError, TimeoutError, silentLogger, type Logger } from '../util/index.ts';

/**
 * Microdescriptors fetched as tor and Arti do it: the missing digests in batches (tor's sizes,
 * from DirectoryState), several requests in flight at once (Arti's microdesc parallelism is 4),
 * spread over every directory cache the client may use (its bridges, or its directory guards),
 * each request under a timeout. A batch that fails — no answer in time, an error, an answer that
 * does not parse — is retried on another cache; digests an answer left out are asked for again
 * elsewhere; a digest is given up after a few attempts (Arti: 3). A cache that fails, or answers
 * with microdescriptors nobody asked for, is charged; one charged too often gets no more requests
 * in this download.
 */

/** A directory cache the download may use. */
export interface MicrodescSource {
  /** Stable identity (fingerprint, or address:port), for charging and logs. */
  readonly id: string;
}

/** How one answer went, as the directory state judged it. */
export interface MicrodescAnswer {
  /** Digests asked for that the answer lacked. */
  readonly missing: readonly string[];
  /** Microdescriptors in the answer that were not asked for (dropped). */
  readonly unrequested: number;
}

export interface MicrodescDownloadOptions<S extends MicrodescSource> {
  readonly sources: readonly S[];
  /** GET `digests` from `source`; abort the request when `signal` fires (the timeout). */
  readonly fetch: (source: S, digests: readonly string[], signal: AbortSignal) => Promise<Uint8Array>;
  /** Check and keep an answer (DirectoryState.addMicrodescBatch); throws a TelescopeError if it does not parse. */
  readonly apply: (body: Uint8Array, digests: readonly string[]) => MicrodescAnswer;
  /** Requests in flight at once (default 4, as Arti). */
  readonly parallelism?: number;
  /** Attempts per digest before giving up on it for this download (default 3, as Arti). */
  readonly attempts?: number;
  /** Per-request timeout (default 30 s). */
  readonly timeoutMs?: number;
  /** Failures after which a cache gets no more requests in this download (default 3). */
  readonly maxFailuresPerSource?: number;
  readonly random?: () => number;
  readonly log?: Logger;
}

export interface SourceCharge {
  readonly source: string;
  readonly reason: string;
  /** The failure, when the request failed (none for an answer with unrequested microdescriptors). */
  readonly error?: TelescopeError;
}

export interface MicrodescDownloadResult {
  /** Requests that returned an answer that was applied. */
  readonly answered: number;
  /** Digests given up on (attempts exhausted, or no cache left to ask). */
  readonly gaveUp: readonly string[];
  /** Every failure charged to a cache, in order. */
  readonly charges: readonly SourceCharge[];
}

interface Batch {
  readonly digests: readonly string[];
  readonly attempt: number;
  /** Caches that already failed this batch's digests. */
  readonly tried: ReadonlySet<string>;
}

/** Download `batches` of digests; resolves when every digest was fetched or given up. */
export function downloadMicrodescs<S extends MicrodescSource>(batches: readonly (readonly string[])[], opts: MicrodescDownloadOptions<S>): Promise<MicrodescDownloadResult> {
  const parallelism = Math.max(1, opts.parallelism ?? 4);
  const attempts = Math.max(1, opts.attempts ?? 3);
  const timeoutMs = opts.timeoutMs ?? 30_000;
  const maxFailures = opts.maxFailuresPerSource ?? 3;
  const random = opts.random ?? Math.random;
  const log = opts.log ?? silentLogger;
  const queue: Batch[] = batches.filter((b) => b.length > 0).map((digests) => ({ digests, attempt: 1, tried: new Set() }));
  const inFlight = new Map<string, number>(opts.sources.map((s) => [s.id, 0]));
  const failures = new Map<string, number>();
  const charges: SourceCharge[] = [];
  const gaveUp: string[] = [];
  let answered = 0;
  let running = 0;

  const usable = () => opts.sources.filter((s) => (failures.get(s.id) ?? 0) < maxFailures);

  /** The least busy usable cache that has not failed this batch; any usable one when all have. */
  const pick = (batch: Batch): S | undefined => {
    const candidates = usable();
    const fresh = candidates.filter((s) => !batch.tried.has(s.id));
    const pool = fresh.length > 0 ? fresh : candidates;
    if (pool.length === 0) return undefined;
    const least = Math.min(...pool.map((s) => inFlight.get(s.id)!));
    const idle = pool.filter((s) => inFlight.get(s.id) === least);
    return idle[Math.min(idle.length - 1, Math.floor(random() * idle.length))];
  };

  const charge = (source: S, reason: string, error?: TelescopeError) => {
    failures.set(source.id, (failures.get(source.id) ?? 0) + 1);
    charges.push({ source: source.id, reason, ...(error ? { error } : {}) });
    log.info(`microdescriptor cache ${source.id}: ${reason}`);
  };

  /** Queue `digests` again, or give up on them. */
  const retry = (digests: readonly string[], batch: Batch, source: S) => {
    if (digests.length === 0) return;
    if (batch.attempt >= attempts) {
      gaveUp.push(...digests);
      return;
    }
    queue.push({ digests, attempt: batch.attempt + 1, tried: new Set([...batch.tried, source.id]) });
  };

  return new Promise((resolve, reject) => {
    let broken = false;
    const finishIfDone = () => {
      if (broken || running > 0 || queue.length > 0) return;
      resolve({ answered, gaveUp, charges });
    };

    const run = async (batch: Batch, source: S) => {
      const controller = new AbortController();
      let timer: ReturnType<typeof setTimeout> | undefined;
      const timedOut = new Promise<never>((_, reject) => {
        timer = setTimeout(() => {
          reject(new TimeoutError(`microdescriptor request to ${source.id}: no answer in ${timeoutMs} ms`));
          controller.abort();
        }, timeoutMs);
      });
      try {
        const request = opts.fetch(source, batch.digests, controller.signal);
        // After a timeout the request's own failure (it was aborted) has nobody left to tell.
        request.catch(() => undefined);
        const body = await Promise.race([request, timedOut]);
        const answer = opts.apply(body, batch.digests);
        answered++;
        if (answer.unrequested > 0) charge(source, `answered with ${answer.unrequested} microdescriptor(s) not asked for`);
        if (answer.missing.length > 0) {
          // tor's caches leave out what they lack; asking the same cache again would not help.
          log.debug(`microdescriptor cache ${source.id} lacked ${answer.missing.length} of ${batch.digests.length}`);
          retry(answer.missing, batch, source);
        }
      } catch (e) {
        if (!(e instanceof TelescopeError)) throw e;
        charge(source, e.message, e);
        retry(batch.digests, batch, source);
      } finally {
        clearTimeout(timer);
      }
    };

    const launch = () => {
      while (!broken && running < parallelism && queue.length > 0) {
        const batch = queue.shift()!;
        const source = pick(batch);
        if (!source) {
          gaveUp.push(...batch.digests);
          continue;
        }
        running++;
        inFlight.set(source.id, inFlight.get(source.id)! + 1);
        void run(batch, source)
          .catch((e: unknown) => {
            // Not a directory failure but a bug (in apply or fetch): the download stops with it.
            broken = true;
            reject(e);
          })
          .finally(() => {
            running--;
            inFlight.set(source.id, inFlight.get(source.id)! - 1);
            launch();
            finishIfDone();
          });
      }
      finishIfDone();
    };
    launch();
  });
}
