import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { stripVTControlCharacters } from 'node:util';
import { expect, test } from 'vitest';

// `npm run demo` as a user runs it: it starts a redis-server of its own, runs the built action
// against it, prints what Redis holds, and stops the server.
test('npm run demo promotes PRP-42 to validate and stops its server', async () => {
  const root = fileURLToPath(new URL('../../', import.meta.url));
  const { code, output } = await new Promise<{ code: number | null; output: string }>((resolve) => {
    const child = execFile(
      process.execPath,
      ['scripts/demo.ts'],
      { cwd: root, timeout: 60_000 },
      (_error, stdout, stderr) => resolve({ code: child.exitCode, output: stdout + stderr }),
    );
  });
  const text = stripVTControlCharacters(output);
  expect(code, text).toBe(0);
  expect(text).toContain('promoted: PRP-42 integration -> validate, version 4');
  expect(text).toMatch(/HGETALL \{prp\}:prp:PRP-42 \{\s*status: 'validate',\s*version: '4',/);
  expect(text).toMatch(/== promoted; redis-server stopped ==\s*$/);
});
