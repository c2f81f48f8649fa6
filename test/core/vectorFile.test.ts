import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { BOUNDS, REFUSALS, RULES, refusalText } from '../../src/core/contract.js';
import { generateVectors } from '../../scripts/generateVectors.js';
import {
  evidenceOf,
  isErrorExpectation,
  type Vector,
  type VectorFile,
} from '../support/vectors.js';

// test/vectors/promotion-cases.json follows the contract: `npm run generate` writes every
// error's message from the TypeScript model and the cases at the bounds from BOUNDS, and fails
// on a hand-written case the model answers otherwise (scripts/generateVectors.ts).

const FILE = 'test/vectors/promotion-cases.json';
const current = readFileSync(new URL(`../../${FILE}`, import.meta.url), 'utf8');
const parsed = JSON.parse(current) as VectorFile;
const generate = (file: VectorFile) => generateVectors(FILE, JSON.stringify(file));
const named = (cases: Vector[], name: string) => cases.find((vector) => vector.name === name)!;

/** The file with `change` made to the hand-written case named `name`. */
function withCase(name: string, change: (vector: Vector) => Vector): VectorFile {
  return {
    ...parsed,
    cases: parsed.cases.map((vector) => (vector.name === name ? change(vector) : vector)),
  };
}

describe('the shared vectors are what the contract generates', () => {
  it('the committed file is current (npm run check:generated)', async () => {
    expect(await generateVectors(FILE, current)).toBe(current);
  });

  it("a stale message is rewritten from the model, not from the case's old text", async () => {
    const name = 'an id holding a colon';
    const stale = withCase(name, (vector) => ({
      ...vector,
      expect: { error: 'PRP_BAD_ARGUMENT', message: 'PRP id must be 1-999 of something' },
    }));
    const next = JSON.parse(await generate(stale)) as VectorFile;
    expect(named(next.cases, name).expect).toEqual({
      error: 'PRP_BAD_ARGUMENT',
      message: refusalText('badId'),
    });
  });

  it('a hand-written case the model answers with another code is refused, named', async () => {
    const name = 'an id holding a colon';
    const wrong = withCase(name, (vector) => ({
      ...vector,
      expect: { error: 'PRP_NOT_FOUND', message: '' },
    }));
    await expect(generate(wrong)).rejects.toThrow(
      new RegExp(`case "${name}" expects PRP_NOT_FOUND, but the TypeScript model answers`),
    );
  });

  it('a hand-written refusal the model would accept is refused, named', async () => {
    const name = 'a TTL 0';
    const accepted = withCase(name, (vector) => ({
      ...vector,
      call: { ...vector.call!, args: vector.call!.args.map((a, i) => (i === 4 ? '600' : a)) },
    }));
    await expect(generate(accepted)).rejects.toThrow(`case "${name}" expects PRP_BAD_ARGUMENT`);
  });

  it('an already case whose time or evidence key the model reads otherwise is refused, named', async () => {
    const name = 'already on a dry run';
    const expectation = named(parsed.cases, name).expect;
    expect(expectation).toMatchObject({ result: 'already', at: 1_700_000_000_123 });
    for (const change of [{ at: 'server-time' }, { evidence_key: '{$NS}:evidence:PRP-1:other' }]) {
      const wrong = withCase(name, (vector) => ({
        ...vector,
        expect: { ...expectation, ...change } as Vector['expect'],
      }));
      await expect(generate(wrong)).rejects.toThrow(`case "${name}" expects {"result":"already"`);
    }
  });

  it('the generated cases are replaced whole: one edited or dropped comes back', async () => {
    const generated = parsed.cases.filter((vector) => vector.generated);
    const [first] = generated;
    const edited: VectorFile = {
      ...parsed,
      cases: parsed.cases
        .filter((vector) => vector !== generated[1])
        .map((vector) => (vector === first ? { ...vector, name: 'edited by hand' } : vector)),
    };
    expect(await generate(edited)).toBe(current);
  });

  it('sit at and just past each bound, with the values BOUNDS gives', () => {
    const cases = parsed.cases.filter((vector) => vector.generated);
    const arg = (name: string, i: number) => named(cases, name).call!.args[i]!;
    const key = (name: string, i: number) => named(cases, name).call!.keys[i]!;
    const B = BOUNDS;
    expect(arg(`an id of ${B.idMaxLength + 1} characters`, 0)).toHaveLength(B.idMaxLength + 1);
    expect(
      named(cases, `an id of ${B.idMaxLength} characters is allowed`).request!.id,
    ).toHaveLength(B.idMaxLength);
    expect(key(`KEYS[4] with a token of ${B.tokenMaxLength + 1} characters`, 3)).toMatch(
      new RegExp(`:T{${B.tokenMaxLength + 1}}$`),
    );
    expect(key(`KEYS[1] with a namespace of ${B.namespaceMaxLength + 1} characters`, 0)).toMatch(
      new RegExp(`^\\{n{${B.namespaceMaxLength + 1}}\\}:`),
    );
    expect(Buffer.byteLength(arg(`an actor of ${B.actorMaxBytes + 1} bytes`, 5))).toBe(
      B.actorMaxBytes + 1,
    );
    expect(arg(`a TTL ${B.ttlMaxSeconds + 1}`, 4)).toBe(String(B.ttlMaxSeconds + 1));
    expect(arg(`an expected version of ${B.versionMaxDigits + 1} digits`, 6)).toMatch(
      new RegExp(`^[0-9]{${B.versionMaxDigits + 1}}$`),
    );
    const sizes = cases.flatMap((vector) =>
      vector.request?.evidencePadToBytes === undefined
        ? []
        : [[Buffer.byteLength(evidenceOf(vector.request)), isErrorExpectation(vector.expect)]],
    );
    expect(sizes).toContainEqual([B.evidenceMaxBytes, false]);
    expect(sizes).toContainEqual([B.evidenceMaxBytes + 1, true]);
    const branches = cases.flatMap((vector) => {
      const branch = vector.request?.evidence?.branch_name;
      return typeof branch === 'string' && vector.request?.evidenceText === undefined
        ? [[Buffer.byteLength(branch), isErrorExpectation(vector.expect)]]
        : [];
    });
    expect(branches).toContainEqual([RULES.ref.maxBytes, false]);
    expect(branches).toContainEqual([RULES.ref.maxBytes + 1, true]);
    // Each refusal is the contract's, with the bound in it.
    expect(named(cases, `a TTL ${B.ttlMaxSeconds + 1}`).expect).toEqual({
      error: REFUSALS.badTtl.code,
      message: refusalText('badTtl'),
    });
  });
});
