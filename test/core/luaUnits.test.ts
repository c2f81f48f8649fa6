import { readdirSync, readFileSync } from 'node:fs';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import {
  BOUNDS,
  EVENTS_MAXLEN,
  HISTORY_MAXLEN,
  ID_RULE,
  NAMESPACE_RULE,
  REFUSALS,
  RULES,
  refusalText,
  type RefusalName,
} from '../../src/core/contract.js';
import { PromotionError } from '../../src/core/errors.js';
import { parseEvidenceObject } from '../../src/core/evidenceRules.js';
import { testClient } from '../../scripts/support/redisServer.js';
import { handWrittenLua, scriptUnits } from '../support/luaScript.js';

// The script's units, each run alone on Redis: the generated data block, then the local
// functions the script defines before its first check (refuse, the evidence gate's scanUtf8,
// decodeJson, laxJson and strictJson, the rules' ruleKept and brokenField), then a line that
// calls one.

let redis: Redis;
beforeAll(() => {
  redis = testClient(inject('redisUrl'));
});
afterAll(() => redis.disconnect());

/** Runs `call` (a Lua chunk ending in return) after the units; an error reply as { error }. */
async function run(call: string, ...args: (string | Buffer)[]): Promise<unknown> {
  try {
    return await redis.eval(`${scriptUnits()}\n${call}`, 0, ...args);
  } catch (error) {
    return { error: (error as Error).message };
  }
}

describe('refuse', () => {
  it.each(Object.keys(REFUSALS) as RefusalName[])(
    '%s: the code, then the template filled as refusalText fills it',
    async (name) => {
      const values = ['a%1b', 'x', 'y', 'z', 'w'];
      expect(
        await run(
          'return refuse(ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5], ARGV[6])',
          name,
          ...values,
        ),
      ).toEqual({
        error: `${REFUSALS[name].code} ${refusalText(name, ...values)}`,
      });
    },
  );
});

/** Byte strings on the edges of UTF-8 and of the printable run. */
const BYTES: Buffer[] = [
  '',
  'plain ascii {"a":1}',
  'tab\there',
  'nul\u0000x',
  'del\u007fx',
  'é',
  '€',
  '𝄞',
  '\ud7ff',
  '\ue000',
  '\uffff',
  '\u{10ffff}',
  'a\u0001é',
  'é\u0001',
].map((s) => Buffer.from(s, 'utf8'));
for (const hex of [
  'c0af', // overlong
  'c1bf',
  'e08080', // overlong 3-byte
  'eda080', // surrogate
  'f4908080', // above U+10FFFF
  'f5808080',
  'ff',
  '80',
  'c3', // cut short
  'e282',
  'f09d84',
  'c328', // second byte not a continuation
  '41c3a9c3',
  'e0a080',
  'f0908080',
  'ed9fbf',
  'efbfbf',
  'c3a90141', // a control character after a multibyte one
]) {
  BYTES.push(Buffer.from(hex, 'hex'));
}

const strictUtf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });
const isUtf8 = (bytes: Buffer) => {
  try {
    strictUtf8.decode(bytes);
    return true;
  } catch {
    return false;
  }
};

describe('scanUtf8', () => {
  it.each(BYTES.map((b) => [b.toString('hex'), b] as const))(
    '%s: UTF-8 or not as a strict decoder says, control characters and the printable run',
    async (_, bytes) => {
      const answer = await run(
        'local utf8, control, plain = scanUtf8(ARGV[1]) return { tostring(utf8), tostring(control), plain }',
        bytes,
      );
      if (!isUtf8(bytes)) {
        expect(answer).toEqual(['false', 'nil']);
        return;
      }
      // eslint-disable-next-line no-control-regex -- control characters are the subject
      const control = /[\x00-\x08\x0b\x0c\x0e-\x1f]/.test(bytes.toString('latin1'));
      const plain = /^[\x20-\x7f]*/.exec(bytes.toString('latin1'))![0].length;
      expect(answer).toEqual(['true', String(control), plain]);
    },
  );
});

describe('decodeJson', () => {
  it("decodes under the contract's depth and puts the server's cjson settings back", async () => {
    const deep = `${'['.repeat(BOUNDS.evidenceMaxDepth)}${']'.repeat(BOUNDS.evidenceMaxDepth)}`;
    const answer = await run(
      `cjson.decode_max_depth(3)
local ok = decodeJson(ARGV[1])
local tooDeep = decodeJson('[' .. ARGV[1] .. ']')
return { tostring(ok), tostring(tooDeep), cjson.decode_max_depth() }`,
      deep,
    );
    await redis.eval('cjson.decode_max_depth(1000)', 0);
    expect(answer).toEqual(['true', 'false', 3]);
  });
});

/** Texts on the edges of what cjson takes and JSON refuses. */
const TEXTS = [
  '{}',
  ' \t\r\n{"a":1}',
  '[1]',
  '"x"',
  '1',
  'null',
  '{"a":1.}',
  '{"a":-.5}',
  '{"a":1.e5}',
  '{"a":1.5e5}',
  '{"a":0x1a}',
  '{"a":NaN}',
  '{"a":Infinity}',
  '{"a":"\t"}',
  '{"a":"\\t"}',
  '{"a":\n1}',
  '{"a":"x.y","b":"http://e.x/1.2"}',
  '{"a":"\\"1.\\""}',
  '{"a":"é"}',
  '{"a":"\u0001"}',
  '{"a":"\u007f"}',
  '{"a":1}x',
  '{"a":"\\ud800"}',
  '{"a":-0.5E-2}',
  `{"a":"${'x'.repeat(BOUNDS.evidenceMaxBytes - 8)}"}`,
  `{"a":"${'x'.repeat(BOUNDS.evidenceMaxBytes - 7)}"}`,
].map((text) => Buffer.from(text, 'utf8'));

describe('strictJson', () => {
  it.each([...TEXTS, ...BYTES].map((b) => [b.toString('utf8').slice(0, 40), b] as const))(
    '%j: the object, or the refusal parseEvidenceObject gives',
    async (_, bytes) => {
      const answer = await run(
        `local decoded, name, value = strictJson(ARGV[1])
if decoded then return 'object' end
return refuse(name, value)`,
        bytes,
      );
      let expected: unknown = 'object';
      try {
        parseEvidenceObject(bytes);
      } catch (error) {
        if (!(error instanceof PromotionError)) throw error;
        expected = { error: error.message };
      }
      expect(answer).toEqual(expected);
    },
  );
});

describe("ruleKept('sha')", () => {
  it.each(
    [39, 40, 41, 63, 64, 65, ...RULES.sha.lengths].flatMap((length) => [
      'c0ffee'.repeat(11).slice(0, length),
      'C0FFEE'.repeat(11).slice(0, length),
    ]),
  )('%s', async (value) => {
    const sha = new RegExp(`^(?:${RULES.sha.lengths.map((n) => `[0-9a-f]{${n}}`).join('|')})$`);
    expect(await run("return tostring(ruleKept('sha', ARGV[1]))", value)).toBe(
      String(sha.test(value)),
    );
  });
});

describe('written once: every refusal text and bound is data of contract.ts', () => {
  it('the hand-written Lua names no refusal code and writes no refusal text', () => {
    const lua = handWrittenLua();
    expect(lua).not.toMatch(/PRP_[A-Z_]+/);
    // Every error reply is refuse()'s, denied()'s (Redis's NOPERM words) or Redis's own.
    const replies = lua.match(/redis\.error_reply\(([^)]*)/g) ?? [];
    expect(replies.length).toBeGreaterThan(0);
    for (const reply of replies) {
      expect(reply).toMatch(
        /error_reply\(\(string\.gsub|error_reply\('NOPERM|error_reply\((err|added\.err)/,
      );
    }
  });

  it('the hand-written Lua holds none of the bounds as a number', () => {
    // scanUtf8's byte values are Unicode's (table 3-7), not the contract's.
    const lua = handWrittenLua()
      .replace(/^local function scanUtf8\([\s\S]*?^end$/m, '')
      .replace(/--.*$/gm, '')
      .replace('time[2] / 1000', ''); // TIME's microseconds to ms
    const numerals = new Set(lua.match(/\b\d+\b/g));
    const bounds = [
      ...Object.values(BOUNDS).filter((v) => typeof v === 'number'),
      RULES.ref.maxBytes,
      ...RULES.sha.lengths,
      EVENTS_MAXLEN,
      HISTORY_MAXLEN,
    ];
    for (const bound of bounds) expect(numerals, `bound ${bound}`).not.toContain(String(bound));
    expect(lua).not.toContain('18446744073709551615');
  });

  it('no TypeScript source but contract.ts holds a refusal text or a rule of ids', () => {
    const sources = ['core', 'action'].flatMap((folder) => {
      const dir = new URL(`../../src/${folder}/`, import.meta.url);
      return readdirSync(dir)
        .filter((file) => file.endsWith('.ts') && file !== 'contract.ts')
        .map((file) => [file, readFileSync(new URL(file, dir), 'utf8')] as const);
    });
    // The longest run of literal text of each template (between its %N placeholders).
    const pieces = Object.values(REFUSALS).map(
      ({ text }) => text.split(/%\d/).sort((a, b) => b.length - a.length)[0]!,
    );
    for (const piece of [...pieces.filter((p) => p.length >= 20), ID_RULE, NAMESPACE_RULE]) {
      for (const [file, source] of sources) {
        expect(source.replace(/\s*'\s*\+\s*'/g, ''), `${file}: ${piece}`).not.toContain(piece);
      }
    }
  });
});
