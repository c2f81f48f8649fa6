import { promoteScript } from '../../src/core/script.js';

const DATA = /^-- BEGIN GENERATED data .*\n[\s\S]*?^-- END GENERATED data .*$/m;

/**
 * The generated data block of lua/promote.lua and the units after it, up to the script's first
 * check: what test/core/contract.test.ts and luaUnits.test.ts run on Redis on their own.
 */
export function scriptUnits(): string {
  const data = DATA.exec(promoteScript());
  if (!data) throw new Error('lua/promote.lua has no generated data block');
  const rest = promoteScript().slice(data.index);
  const firstCheck = rest.indexOf('\nif #KEYS ');
  if (firstCheck < 0) throw new Error('lua/promote.lua has no argument count check');
  return rest.slice(0, firstCheck);
}

/** The script without its header comment and its generated data block. */
export const handWrittenLua = (): string =>
  promoteScript()
    .replace(/^--\[\[[\s\S]*?\]\]/, '')
    .replace(DATA, '');
