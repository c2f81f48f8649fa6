import { describe, expect, test } from 'vitest';
import { parseReply } from '../../src/core/promote.js';

const reply = {
  result: 'promoted',
  prp: 'PRP-1',
  from: 'integration',
  to: 'validate',
  version: 3,
  evidence_key: 'prp:evidence:PRP-1:integration:validate:t',
  removed: 0,
  at: 1_700_000_000_000,
  kind: 'promote',
};

describe("parseReply: the script's JSON reply, checked", () => {
  test('the contract reply is read as it is', () => {
    expect(parseReply(JSON.stringify(reply))).toEqual(reply);
  });

  test.each([
    ['not JSON', 'nope', /^the promotion script's reply is not the contract's: not JSON/],
    ['a result it does not know', { ...reply, result: 'maybe' }, /: result: /],
    ['a kind it does not know', { ...reply, kind: 'rollback' }, /: kind: /],
    ['no kind (a contract v1 script)', { ...reply, kind: undefined }, /: kind: /],
    ['a removed that is not 0 or 1', { ...reply, removed: 2 }, /: removed: /],
    ['a version that is no number', { ...reply, version: '3' }, /: version: .*expected number/],
    ['a missing field', { ...reply, evidence_key: undefined }, /: evidence_key: /],
  ])('%s is named', (_, given, message) => {
    const text = typeof given === 'string' ? given : JSON.stringify(given);
    expect(() => parseReply(text)).toThrow(message);
  });
});
