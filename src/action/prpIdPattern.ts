import { RE2JS, RE2JSException } from 're2js';
import { NotRunError } from '../core/errors.js';

/**
 * What RE2 lacks that JavaScript has, to name it when RE2 refuses a pattern: RE2's own words
 * for a lookbehind are "invalid named capture".
 */
const LACKING: [syntax: RegExp, name: string][] = [
  [/\(\?<[=!]/, 'a lookbehind'],
  [/\(\?[=!]/, 'a lookahead'],
  [/\\(?:[1-9]|k<)/, 'a backreference'],
];

/**
 * `prp-id-pattern`, matched by RE2 (re2js, a pure-JavaScript port): in time linear in the
 * text, whatever the pattern. The texts it searches, branch names, titles and commit
 * messages, are written by contributors, and JavaScript's backtracking RegExp takes
 * exponential time on patterns such as `(a+)+$`; no `timeout` could stop it, as it never
 * yields. RE2 buys that bound by leaving out backreferences and lookaround.
 */
export class PrpIdPattern {
  private readonly compiled: RE2JS;

  /** Throws UnsupportedPatternError when RE2 does not accept `source`. */
  constructor(readonly source: string) {
    try {
      this.compiled = RE2JS.compile(source);
    } catch (error) {
      if (!(error instanceof RE2JSException)) throw error;
      const problem = error.message.replace(/^error parsing regexp: /, '');
      const lacking = LACKING.find(([syntax]) => syntax.test(source))?.[1];
      throw new UnsupportedPatternError(lacking ? `${problem}, which is ${lacking}` : problem);
    }
  }

  /** The leftmost match in `text`, as JavaScript's RegExp would find it, or undefined. */
  firstMatch(text: string): string | undefined {
    const match: unknown = this.compiled.exec(text)?.[0];
    return typeof match === 'string' ? match : undefined;
  }
}

/** A pattern RE2 does not accept; the message is RE2's, e.g. "invalid escape sequence: `\1`". */
export class UnsupportedPatternError extends NotRunError {
  override readonly name = 'UnsupportedPatternError';
}
