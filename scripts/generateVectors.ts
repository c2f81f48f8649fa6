/**
 * The shared vectors' part that follows the contract (test/vectors/promotion-cases.json),
 * written by `npm run generate` (scripts/generate.ts), checked by `npm run check:generated`:
 *
 * - every error case's `expect.message`, computed by the TypeScript model of the script
 *   (promotionCall, checkPromotionArguments and decide(), as test/core/vectors.test.ts runs
 *   them without Redis), never edited from the old text. The rest of a hand-written case
 *   (given, request or call, the code, the reply) is the author's: when the model gives
 *   another code, a reply for a refusal or another reply, the generator fails naming the case
 *   instead of writing it;
 * - the cases marked `generated`: the inputs at and just past each bound of BOUNDS and of the
 *   ref rule (an id of idMaxLength characters is promoted, one more is refused), replaced
 *   wholesale on every run. Each states what it expects (a refusal by its REFUSALS name and
 *   values, or a reply), and the model must agree.
 *
 * The file stays concrete JSON that a client in another language runs as it is.
 */
import { fileURLToPath } from 'node:url';
import * as prettier from 'prettier';
import {
  BOUNDS,
  REFUSALS,
  refusalText,
  ruleMessage,
  RULES,
  type RefusalName,
} from '../src/core/contract.js';
import { PromotionError } from '../src/core/errors.js';
import { withoutNamespace, type Given } from '../test/support/seed.js';
import {
  decideVector,
  isErrorExpectation,
  queuesFromGiven,
  SNAPSHOT_TIME,
  type ExpectedReply,
  type Vector,
  type VectorFile,
  type VectorRequest,
} from '../test/support/vectors.js';

/** The namespace the model runs in: `$NS` again in what is written. */
const NS = 'vectors-generated';

type Outcome = { error: string; message: string } | Omit<ExpectedReply, 'queuesAfter'>;

/** What the TypeScript model answers to a vector: decide() on a snapshot of its `given`. */
function modelOutcome(vector: Vector): Outcome {
  try {
    const { keys, decision } = decideVector(vector, NS);
    if (decision.kind === 'refused') throw decision.refusal;
    if (decision.kind === 'failed') throw new Error(`${vector.name}: ${decision.error.message}`);
    if (decision.kind === 'already') {
      // An already reply carries the hash: its evidence key, and its time (the snapshot's
      // when updated_at is not a time the contract reads).
      const { result, version, removed, evidence_key, at } = decision.reply;
      return {
        result,
        version,
        removed,
        evidence_key: withoutNamespace(evidence_key, NS),
        at: at === SNAPSHOT_TIME ? 'server-time' : at,
      };
    }
    const removed = (queuesFromGiven(vector.given, NS).get(keys[1]!) ?? []).includes(
      decision.reply.prp,
    )
      ? 1
      : 0;
    return { result: decision.reply.result, version: decision.reply.version, removed };
  } catch (error) {
    if (!(error instanceof PromotionError)) throw error;
    return { error: error.code, message: withoutNamespace(error.detail, NS) };
  }
}

/** The vector with its message from the model, or an error naming it when the model disagrees. */
function withModelMessage(vector: Vector, expectedMessage?: string): Vector {
  const outcome = modelOutcome(vector);
  const expected = vector.expect;
  const fail = (what: string) =>
    new Error(
      `test/vectors/promotion-cases.json: case "${vector.name}" expects ${what}, but the ` +
        `TypeScript model answers ${JSON.stringify(outcome)}: fix the case (or the model); ` +
        'nothing was written',
    );
  if (!isErrorExpectation(expected)) {
    const { result, version, removed, evidence_key, at } = expected;
    const reply =
      result === 'already'
        ? { result, version, removed, evidence_key, at: at ?? 'server-time' }
        : { result, version, removed };
    if ('error' in outcome || JSON.stringify(outcome) !== JSON.stringify(reply))
      throw fail(JSON.stringify(reply));
    return vector;
  }
  if (!('error' in outcome) || outcome.error !== expected.error) throw fail(expected.error);
  if (expectedMessage !== undefined && outcome.message !== expectedMessage)
    throw fail(`${expected.error} ${expectedMessage}`);
  return { ...vector, expect: { error: expected.error, message: outcome.message } };
}

// The generated cases -------------------------------------------------------------------------

const thousands = (n: number) => n.toLocaleString('en-US');
/** `bytes` bytes of two-byte characters (é), with an `a` (first or last) for an odd count. */
const multibyte = (bytes: number, a: 'first' | 'last' = 'last') =>
  a === 'first'
    ? 'a'.repeat(bytes & 1) + 'é'.repeat(bytes >> 1)
    : 'é'.repeat(bytes >> 1) + 'a'.repeat(bytes & 1);
/** `n` digits, 1234567890123..., none of them a leading zero. */
const digits = (n: number) => Array.from({ length: n }, (_, i) => (i + 1) % 10).join('');

const PRP = { id: 'PRP-1', title: 'Add login', owner: 'team-a' };
const givenIn = (status: string, next: string, version = '3'): Given => ({
  prp: { id: PRP.id, fields: { status, version, title: PRP.title, owner: PRP.owner } },
  queues: { [status]: ['PRP-7', PRP.id, 'PRP-8'], [next]: ['PRP-2'] },
});
const PENDING = givenIn('pending', 'development');
const GOOD = { requirements_analysis: 'docs/req.md', acceptance_criteria: ['login works'] };
const COMMIT = '3f7a9c2e1b5d8f4a6c0e2b9d7f1a3c5e8b0d2f4a';
const SMALL = { requirements_analysis: 'r', acceptance_criteria: 'a' };

/** pending -> development of PRP-1 on good evidence, with `changes`. */
const request = (changes: Partial<VectorRequest> = {}): VectorRequest => ({
  id: PRP.id,
  from: 'pending',
  to: 'development',
  evidence: GOOD,
  token: 'run-42-1',
  ttlSeconds: 600,
  actor: 'ci-bot',
  ...changes,
});

/** The same as raw KEYS and ARGV of contract v1's shape, with `keys` and `args` changed by index. */
function call(keys: Record<number, string>, args: Record<number, string>): Vector['call'] {
  const id = args[0] ?? PRP.id;
  const base = {
    keys: [
      `{$NS}:prp:${id}`,
      '{$NS}:queue:pending',
      '{$NS}:queue:development',
      `{$NS}:evidence:${id}:run-42-1`,
      '{$NS}:events',
    ],
    args: [id, 'pending', 'development', JSON.stringify(GOOD), '600', 'ci-bot', '', '0'],
  };
  for (const [i, key] of Object.entries(keys)) base.keys[Number(i)] = key;
  for (const [i, arg] of Object.entries(args)) base.args[Number(i)] = arg;
  return base;
}

const PROMOTED: ExpectedReply = {
  result: 'promoted',
  version: 4,
  removed: 1,
  queuesAfter: { pending: ['PRP-7', 'PRP-8'], development: ['PRP-1', 'PRP-2'] },
};
const DRY_RUN: ExpectedReply = { result: 'dry_run', version: 4, removed: 1 };

/** A generated case: a vector whose refusal is named (REFUSALS) with the values it fills in. */
type Generated = Omit<Vector, 'expect' | 'generated'> & {
  expect: ExpectedReply | [RefusalName, ...(string | number)[]] | { field: string; rule: 'ref' };
};

/** Evidence nested `depth` deep (the object itself is the first level). */
const nested = (depth: number, open: string, inner: string, close: string) =>
  `{"requirements_analysis":"r","acceptance_criteria":"a","deep":${open.repeat(depth - 1)}${inner}${close.repeat(depth - 1)}}`;

function boundCases(): Generated[] {
  const B = BOUNDS;
  const ref = RULES.ref.maxBytes;
  const branch = (name: string): Partial<VectorRequest> => ({
    from: 'development',
    to: 'integration',
    evidence: {
      implementation_complete: true,
      local_validation: 'npm test passed',
      branch_name: name,
    },
  });
  const longId = 'P' + 'x'.repeat(B.idMaxLength - 1);
  const tooLongId = longId + 'x';
  const maxVersion = '9'.repeat(B.versionMaxDigits);
  const demote: Partial<VectorRequest> = {
    kind: 'demote',
    from: 'validate',
    evidence: { reason: 'validate failed: job e2e' },
    token: 'run-43-1',
  };
  const validate = (version: string): Given => ({
    prp: {
      id: PRP.id,
      fields: { status: 'validate', version, title: PRP.title, owner: PRP.owner },
    },
  });
  const NOT_UTF8 =
    '7b22726571756972656d656e74735f616e616c79736973223a2272222c22616363657074616e63655f637269746572696' +
    '1223a2261222c2263223a2278ff79227d';
  const MULTIBYTE_UTF8 =
    '7b22726571756972656d656e74735f616e616c79736973223a2272222c22616363657074616e63655f637269746572696' +
    '1223a2261222c2263223a2278c3a9e4b8adf09f9880f48fbfbf79227d';
  const onBranch = (name: string, accepted: boolean): Generated => ({
    name: '',
    given: givenIn('development', 'integration'),
    request: { ...request(branch(name)), ...(accepted ? { dryRun: true } : {}) },
    expect: accepted ? DRY_RUN : { field: 'branch_name', rule: 'ref' },
    zod: true,
  });
  const tooLarge: Generated['expect'] = ['evidenceTooLarge', B.evidenceMaxBytes + 1];
  return [
    // The ref rule's bytes.
    {
      ...onBranch('a'.repeat(ref + 1), false),
      name: `development -> integration: branch_name a string of ${ref + 1} bytes is refused`,
    },
    {
      ...onBranch(multibyte(ref + 1), false),
      name: `development -> integration: branch_name a multibyte string of ${ref + 1} bytes is refused`,
    },
    {
      ...onBranch('a'.repeat(ref), true),
      name: `development -> integration: branch_name a string of ${ref} bytes is accepted`,
    },
    {
      ...onBranch(multibyte(ref), true),
      name: `development -> integration: branch_name a multibyte string of exactly ${ref} bytes is accepted`,
    },
    {
      // Were the lone surrogate counted as U+FFFD's 3 bytes, the ref rule would refuse it.
      ...onBranch('feature/PRP-1-login', false),
      name: 'a raw lone surrogate in a ref is not UTF-8 (not counted as the 3 bytes of U+FFFD)',
      request: {
        ...request(branch('feature/PRP-1-login')),
        evidenceText: `{"implementation_complete":true,"local_validation":"ok","branch_name":"${'a'.repeat(ref - 2)}\udc00"}`,
      },
      expect: ['evidenceNotUtf8'],
    },
    // The evidence's nesting.
    ...(
      [
        ['nesting', '[', '1', ']'],
        ['objects nested', '{"a":', '1', '}'],
      ] as const
    ).flatMap(([what, open, inner, close]): Generated[] => [
      {
        name: `evidence with ${what} ${B.evidenceMaxDepth + 1} deep is not JSON`,
        given: PENDING,
        request: request({
          evidenceText: nested(B.evidenceMaxDepth + 1, open, inner, close),
        }),
        expect: ['evidenceNotJson'],
        zod: true,
      },
      {
        name: `evidence with ${what} exactly ${B.evidenceMaxDepth} deep is accepted`,
        given: PENDING,
        request: request({
          evidenceText: nested(B.evidenceMaxDepth, open, inner, close),
          dryRun: true,
        }),
        expect: DRY_RUN,
        zod: true,
      },
    ]),
    {
      name: `evidence with an array nested ${B.evidenceMaxDepth + 1} deep is not JSON`,
      given: PENDING,
      request: request({
        evidenceText: '['.repeat(B.evidenceMaxDepth + 1) + ']'.repeat(B.evidenceMaxDepth + 1),
      }),
      expect: ['evidenceNotJson'],
      zod: true,
    },
    // The evidence's size.
    {
      name: `evidence bytes of ${thousands(B.evidenceMaxBytes + 1)} that are not UTF-8 either: size is checked first`,
      given: PENDING,
      request: request({ evidenceHex: NOT_UTF8, evidencePadToBytes: B.evidenceMaxBytes + 1 }),
      expect: tooLarge,
      zod: true,
    },
    {
      name: `evidence bytes in UTF-8 of exactly ${thousands(B.evidenceMaxBytes)} bytes with multibyte characters are promoted`,
      given: PENDING,
      request: request({ evidenceHex: MULTIBYTE_UTF8, evidencePadToBytes: B.evidenceMaxBytes }),
      expect: PROMOTED,
      zod: true,
    },
    {
      name: `evidence of ${thousands(B.evidenceMaxBytes + 1)} bytes is too large`,
      given: PENDING,
      request: request({ evidence: SMALL, evidencePadToBytes: B.evidenceMaxBytes + 1 }),
      expect: tooLarge,
      zod: true,
    },
    {
      name: `evidence of ${thousands(B.evidenceMaxBytes + 1)} bytes that is not JSON either: size is checked first`,
      given: PENDING,
      request: request({
        evidenceText: '{"requirements_analysis":"r",}',
        evidencePadToBytes: B.evidenceMaxBytes + 1,
      }),
      expect: tooLarge,
      zod: true,
    },
    {
      name: `evidence of exactly ${thousands(B.evidenceMaxBytes)} bytes is promoted and stored`,
      given: PENDING,
      request: request({ evidence: SMALL, evidencePadToBytes: B.evidenceMaxBytes }),
      expect: PROMOTED,
      zod: true,
    },
    {
      name: `demote: evidence of ${B.evidenceMaxBytes + 1} bytes is refused`,
      given: validate('5'),
      request: request({
        ...demote,
        to: 'development',
        evidencePadToBytes: B.evidenceMaxBytes + 1,
      }),
      expect: tooLarge,
      zod: true,
    },
    // The version's digits.
    {
      name: `a version at the largest a promotion can raise (${B.versionMaxDigits} digits) is refused, nothing written`,
      // The PRP sits in another queue than its state's: nothing is written to either.
      given: {
        ...givenIn('pending', 'development', maxVersion),
        queues: { integration: ['PRP-7', PRP.id, 'PRP-8'], development: ['PRP-2'] },
      },
      request: request(),
      expect: ['versionAtMaximum', `{$NS}:prp:${PRP.id}`, maxVersion, 'promotion'],
    },
    {
      name: 'demote: the largest version cannot be raised',
      given: validate(maxVersion),
      request: request({ ...demote, to: 'integration' }),
      expect: ['versionAtMaximum', `{$NS}:prp:${PRP.id}`, maxVersion, 'demotion'],
    },
    {
      name: `already with an updated_at of ${B.versionMaxDigits + 1} digits: the server time`,
      given: {
        prp: {
          id: PRP.id,
          fields: {
            status: 'development',
            version: '4',
            updated_at: `1700000000123${'0'.repeat(B.versionMaxDigits)}`.slice(
              0,
              B.versionMaxDigits + 1,
            ),
            updated_by: 'someone',
            evidence_key: '{$NS}:evidence:PRP-1:run-41-1',
            title: PRP.title,
          },
        },
      },
      request: request(),
      expect: {
        result: 'already',
        version: 4,
        removed: 0,
        evidence_key: '{$NS}:evidence:PRP-1:run-41-1',
        at: 'server-time',
      },
    },
    {
      name: `version guard of ${B.versionMaxDigits} digits: conflict`,
      given: PENDING,
      request: request({ expectedVersion: maxVersion }),
      expect: ['versionConflict', PRP.id, 3, maxVersion],
    },
    {
      name: `a version field that is ${B.versionMaxDigits + 1} digits is the wrong type`,
      given: {
        prp: {
          id: PRP.id,
          fields: { status: 'pending', version: digits(B.versionMaxDigits + 1) },
        },
      },
      request: request({ expectedVersion: '3' }),
      expect: ['versionNotInteger', `{$NS}:prp:${PRP.id}`],
    },
    {
      name: `an expected version of ${B.versionMaxDigits + 1} digits`,
      given: PENDING,
      call: call({}, { 6: digits(B.versionMaxDigits + 1) }),
      expect: ['badExpectedVersion'],
    },
    {
      name: `a raw call with an expected version of ${B.versionMaxDigits} digits is a well-formed argument`,
      given: PENDING,
      call: call({}, { 6: '3'.padStart(B.versionMaxDigits, '0') }),
      expect: PROMOTED,
    },
    // The actor's bytes.
    {
      name: `an actor of ${B.actorMaxBytes} bytes (multibyte) is allowed`,
      given: {
        prp: {
          id: PRP.id,
          fields: {
            status: 'validate',
            version: '3',
            title: PRP.title,
            owner: PRP.owner,
            validated_commit: COMMIT,
          },
        },
        queues: { validate: ['PRP-7', PRP.id, 'PRP-8'], complete: ['PRP-2'] },
      },
      request: request({
        from: 'validate',
        to: 'complete',
        evidence: {
          quality_gates_passed: true,
          validator_approval: 'approved by @alice',
          merge_commit: COMMIT,
        },
        actor: multibyte(B.actorMaxBytes),
      }),
      expect: {
        result: 'promoted',
        version: 4,
        removed: 1,
        queuesAfter: { validate: ['PRP-7', 'PRP-8'], complete: ['PRP-1', 'PRP-2'] },
      },
    },
    {
      name: `an actor of ${B.actorMaxBytes + 1} bytes`,
      given: PENDING,
      call: call({}, { 5: 'a'.repeat(B.actorMaxBytes + 1) }),
      expect: ['badActor'],
    },
    {
      name: `an actor of ${B.actorMaxBytes + 1} bytes in multibyte characters`,
      given: PENDING,
      call: call({}, { 5: multibyte(B.actorMaxBytes + 1, 'first') }),
      expect: ['badActor'],
    },
    // The TTL.
    {
      name: `a TTL of ${thousands(B.ttlMaxSeconds)} seconds (${B.ttlMaxSeconds / 86_400} days) is allowed`,
      given: PENDING,
      request: request({ ttlSeconds: B.ttlMaxSeconds }),
      expect: PROMOTED,
    },
    {
      name: `a TTL ${B.ttlMaxSeconds + 1}`,
      given: PENDING,
      call: call({}, { 4: String(B.ttlMaxSeconds + 1) }),
      expect: ['badTtl'],
    },
    {
      name: `a TTL of ${String(B.ttlMaxSeconds).length + 1} digits`,
      given: PENDING,
      call: call({}, { 4: '1' + '0'.repeat(String(B.ttlMaxSeconds).length) }),
      expect: ['badTtl'],
    },
    // The id, the token and the namespace.
    {
      name: `an id of ${B.idMaxLength} characters is allowed`,
      given: { prp: { id: longId, fields: { status: 'pending' } } },
      request: request({ id: longId }),
      expect: {
        result: 'promoted',
        version: 1,
        removed: 0,
        queuesAfter: { pending: [], development: [longId] },
      },
    },
    {
      name: `an id of ${B.idMaxLength + 1} characters`,
      given: PENDING,
      call: call({}, { 0: tooLongId }),
      expect: ['badId'],
    },
    {
      name: `a token of ${B.tokenMaxLength} characters is allowed`,
      given: PENDING,
      request: request({ token: 'T'.repeat(B.tokenMaxLength) }),
      expect: PROMOTED,
    },
    {
      name: `KEYS[4] with a token of ${B.tokenMaxLength + 1} characters`,
      given: PENDING,
      call: call({ 3: `{$NS}:evidence:PRP-1:${'T'.repeat(B.tokenMaxLength + 1)}` }, {}),
      expect: ['badEvidenceKey', '{$NS}:evidence:PRP-1:'],
    },
    {
      name: `KEYS[1] with a namespace of ${B.namespaceMaxLength + 1} characters`,
      given: PENDING,
      call: call({ 0: `{${'n'.repeat(B.namespaceMaxLength + 1)}}:prp:PRP-1` }, {}),
      expect: ['badNamespaceKey'],
    },
  ];
}

/** A generated case as the file holds it, checked against the model. */
function written(generated: Generated): Vector {
  const { expect, ...rest } = generated;
  const vector = (expectation: Vector['expect']): Vector => ({
    ...rest,
    expect: expectation,
    generated: true,
  });
  if (Array.isArray(expect)) {
    const [name, ...values] = expect;
    return withModelMessage(
      vector({ error: REFUSALS[name].code, message: '' }),
      refusalText(name, ...values),
    );
  }
  if ('field' in expect) {
    const { from, to } = generated.request!;
    return withModelMessage(
      vector({ error: 'PRP_EVIDENCE_INVALID', message: '' }),
      ruleMessage(expect.field, expect.rule, from, to),
    );
  }
  return withModelMessage(vector(expect));
}

/** promotion-cases.json as `npm run generate` writes it, from its text `current`. */
export async function generateVectors(file: string, current: string): Promise<string> {
  const { about, cases } = JSON.parse(current) as VectorFile;
  const handWritten = cases.filter((vector) => !vector.generated);
  const next: VectorFile = {
    about,
    cases: [...handWritten.map((vector) => withModelMessage(vector)), ...boundCases().map(written)],
  };
  const names = new Set<string>();
  for (const { name } of next.cases) {
    if (names.has(name)) throw new Error(`${file}: two cases are named "${name}"`);
    names.add(name);
  }
  const filepath = fileURLToPath(new URL(`../${file}`, import.meta.url));
  const options = await prettier.resolveConfig(filepath);
  return prettier.format(JSON.stringify(next, null, 2), { ...options, filepath });
}
