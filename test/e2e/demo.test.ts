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
  // The hash as Redis holds it (its fields in Redis's order, which the test does not fix).
  const hash = /HGETALL \{prp\}:prp:PRP-42 \{\n([\s\S]*?)\n\}/.exec(text)?.[1] ?? '';
  expect(hash).toMatch(/^\s*status: 'validate',?$/m);
  expect(hash).toMatch(/^\s*version: '4',?$/m);
  expect(text).toMatch(/== promoted; redis-server stopped ==\s*$/);
});
