import type { ChildProcess } from 'node:child_process';

/** Stop a process a test started: SIGTERM, SIGKILL after 5 s, resolved once it has exited. */
export async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
  await exited;
  clearTimeout(timer);
}

/**
 * The environment for a `telescope` command a test starts: TELESCOPE_OWNER_PID makes it stop once
 * this test process is gone, even when a SIGKILL gave the test no chance to run stopChild.
 */
export function ownedByThisProcess(): NodeJS.ProcessEnv {
  return { ...process.env, TELESCOPE_OWNER_PID: String(process.pid) };
}
