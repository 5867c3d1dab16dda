/**
 * Knowing when a process is gone, for processes that must not outlive the one that started them.
 *
 * A process that is SIGKILLed runs no handler, so whatever it started has to notice by itself:
 * tor does it with `__OwningControllerProcess PID` (it polls the pid every 15 s), the test
 * network's web server and `npm start` poll with the functions here. Linux-first: /proc
 * tells zombies and re-parenting apart; elsewhere kill(pid, 0) is the best there is.
 */
import { readFileSync } from 'node:fs';

/** Fields of /proc/PID/stat after "pid (comm)": state is [0], ppid [1], starttime [19]. */
function statFields(pid: number): string[] | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // comm may contain spaces and ')': the fields start after the last ')'.
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  } catch {
    return undefined;
  }
}

/**
 * True while `pid` exists and is not a zombie. A killed child stays a zombie until its parent
 * reaps it (and some init processes never reap), and kill(pid, 0) still succeeds on a zombie, so
 * /proc's state decides on Linux.
 */
export function isProcessAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
  const fields = statFields(pid);
  if (!fields) return process.platform !== 'linux';
  return fields[0] !== 'Z' && fields[0] !== 'X';
}

/** The parent of `pid` as the kernel sees it now (Node's process.ppid is fixed at start-up). */
export function parentPid(pid: number): number | undefined {
  const fields = statFields(pid);
  if (fields) return Number(fields[1]);
  return pid === process.pid && process.platform !== 'linux' ? process.ppid : undefined;
}

/**
 * When `pid` started (clock ticks since boot), to tell a process from a later one that got its
 * pid; undefined when unknown (gone, or not Linux).
 */
export function processStartTime(pid: number): string | undefined {
  return statFields(pid)?.[19];
}

/** The command line of `pid`, arguments joined by spaces ('' if gone or unreadable). */
export function commandLine(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean).join(' ');
  } catch {
    return '';
  }
}

/**
 * Call `onGone` once when `pid` has exited (or its pid now belongs to another process), checking
 * every `intervalMs`. The timer does not keep the event loop alive. Returns a function that stops
 * watching.
 */
export function whenProcessGone(pid: number, onGone: () => void, intervalMs = 1000): () => void {
  const startedAt = processStartTime(pid);
  const timer = setInterval(() => {
    if (isProcessAlive(pid) && processStartTime(pid) === startedAt) return;
    clearInterval(timer);
    onGone();
  }, intervalMs);
  timer.unref();
  return () => clearInterval(timer);
}

/** `sh -c CMD` and the like: a shell that only runs one command, as npm runs a package script. */
function isShellWrapper(pid: number): boolean {
  let argv: string[];
  try {
    argv = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
  } catch {
    return false;
  }
  const name = (argv[0] ?? '').split('/').pop() ?? '';
  return ['sh', 'dash', 'bash', 'zsh'].includes(name) && argv[1] === '-c';
}

/**
 * Call `onGone` once when the process that started this one is gone: the parent, and when the
 * parent is a `sh -c` wrapper (npm runs scripts through one, and the shell keeps waiting for us
 * when npm is killed) the wrapper's parent too. A dead parent shows as re-parenting: the kernel
 * hands its orphans to init or a subreaper. Checks every `intervalMs`; the timer does not keep the
 * event loop alive. Returns a function that stops watching.
 */
export function whenParentGone(onGone: (why: string) => void, intervalMs = 1000): () => void {
  const watched: { child: number; parent: number }[] = [];
  const parent = parentPid(process.pid);
  if (parent !== undefined && parent > 1) {
    watched.push({ child: process.pid, parent });
    const grandparent = parentPid(parent);
    if (grandparent !== undefined && grandparent > 1 && isShellWrapper(parent)) watched.push({ child: parent, parent: grandparent });
  }
  const timer = setInterval(() => {
    for (const w of watched) {
      const now = parentPid(w.child);
      // The child itself gone (the wrapper shell was killed) counts as well: we are orphaned next.
      if (now === w.parent && isProcessAlive(w.parent)) continue;
      clearInterval(timer);
      onGone(`process ${w.parent} (${w.child === process.pid ? 'our parent' : "our parent's parent"}) exited`);
      return;
    }
  }, intervalMs);
  timer.unref();
  return () => clearInterval(timer);
}
