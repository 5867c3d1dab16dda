import { execFile } from 'node:child_process';

/** curl as the application under test: exit code, body and stderr, never throwing. */
export interface CurlResult { code: number; body: Buffer; stderr: string }

export function curl(args: string[], timeoutMs = 120_000): Promise<CurlResult> {
  return new Promise((resolve) => {
    execFile('curl', ['-sS', '--max-time', String(Math.round(timeoutMs / 1000)), ...args], { encoding: 'buffer', maxBuffer: 64 * 1024 * 1024 }, (err, stdout, stderr) => {
      const code = err ? ((err as { code?: number }).code ?? -1) : 0;
      resolve({ code: typeof code === 'number' ? code : -1, body: stdout, stderr: stderr.toString() });
    });
  });
}
