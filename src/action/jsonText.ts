/**
 * What JSON.parse lets through but readers would not agree on, in JSON text it has accepted:
 * a number a 64-bit double cannot hold as written (JSON.stringify then writes null, 0 or
 * other digits), a key given twice in one object (some readers keep the first value,
 * JavaScript the last), and a lone surrogate (\\uD800: JSON, but no UTF-8 text). One walk over the text, without recursion (JSON.parse takes nesting
 * a recursive walk could not), with the JSON path of what it finds.
 */

// A message shows at most this much of a literal or a path.
const SHOWN = 40;
const PATH_SHOWN = 100;
const shorten = (text: string, length: number) =>
  text.length > length ? `${text.slice(0, length)}…` : text;

const NUMBER = /-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?/y;
const DECIMAL = /^(-?)([0-9]+)(?:\.([0-9]+))?(?:[eE]([+-]?[0-9]+))?$/;
const IDENTIFIER = /^[A-Za-z_$][A-Za-z0-9_$]*$/;

/** A number literal's exact value, one spelling per value: 1.0, 1E0 and 10e-1 are all `1e0`. */
function exactValue(literal: string): string {
  const [, sign, whole, fraction = '', exponent = '0'] = DECIMAL.exec(literal)!;
  const digits = (whole + fraction).replace(/^0+/, '');
  if (digits === '') return '0'; // -0 is 0: the same value to JSON
  const significant = digits.replace(/0+$/, '');
  const scale =
    BigInt(exponent) - BigInt(fraction.length) + BigInt(digits.length - significant.length);
  return `${sign}${significant}e${scale}`;
}

/** Why a number literal cannot be stored as written, or undefined when it can. */
function numberProblem(literal: string): string | undefined {
  const value = Number(literal);
  const double = 'a JSON number (a 64-bit double)';
  const shown = shorten(literal, SHOWN);
  const asString = `write it as a string (${JSON.stringify(shown)})`;
  if (!Number.isFinite(value)) {
    return `is too large for ${double} and would be stored as null; ${asString} or use a smaller number`;
  }
  const stored = JSON.stringify(value);
  if (exactValue(stored) === exactValue(literal)) return undefined;
  if (value === 0)
    return `is too small for ${double} and would be stored as 0; ${asString} or as 0`;
  return (
    `has more digits than ${double} keeps and would be stored as ${stored}; ${asString} or ` +
    `round it to ${stored}`
  );
}

/** Half of a UTF-16 pair without its other half: JSON's \\uD800 escape allows one. */
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/**
 * Why the string literal `literal` (quotes included) at `path` cannot be stored as text, or
 * undefined: a lone surrogate is valid JSON but no UTF-8, which the script refuses after
 * connecting as "not valid JSON".
 */
function stringProblem(literal: string, path: string): string | undefined {
  return textProblem(literal.includes('\\') ? (JSON.parse(literal) as string) : literal, path);
}

/** stringProblem for the string `value` itself. */
function textProblem(value: string, path: string): string | undefined {
  const lone = LONE_SURROGATE.exec(value)?.[0];
  if (lone === undefined) return undefined;
  const escape = `\\u${lone.charCodeAt(0).toString(16).toUpperCase()}`;
  return (
    `holds a lone surrogate ${escape} at ${shorten(path, PATH_SHOWN)}: not valid UTF-8 text ` +
    '(half of a UTF-16 pair, which Redis and the script cannot read as text); write the ' +
    'whole pair (such as \\uD83D\\uDE00) or the character itself'
  );
}

const keySegment = (key: string) => (IDENTIFIER.test(key) ? `.${key}` : `[${JSON.stringify(key)}]`);

interface Container {
  path: string;
  /** The keys seen so far, for an object; undefined for an array. */
  keys: Set<string> | undefined;
  index: number;
}

/**
 * The first number that cannot round-trip or key given twice in `text`, which JSON.parse has
 * accepted, as a sentence naming its JSON path; undefined when there is none.
 */
export function jsonTextProblem(text: string): string | undefined {
  let at = 0;
  const skipSpace = () => {
    while (text[at] === ' ' || text[at] === '\t' || text[at] === '\n' || text[at] === '\r') at++;
  };
  const skipString = () => {
    at++; // the opening quote
    while (text[at] !== '"') at += text[at] === '\\' ? 2 : 1;
    at++;
  };
  const stack: Container[] = [];
  let path = '$';

  /** Reads `"key":` in the innermost object; its path, or a problem when it came before. */
  const readKey = (object: Container): string | undefined => {
    skipSpace();
    const start = at;
    skipString();
    const key = JSON.parse(text.slice(start, at)) as string;
    skipSpace();
    at++; // the colon
    path = object.path + keySegment(key);
    const lone = textProblem(key, path);
    if (lone) return lone;
    if (object.keys!.has(key)) {
      return (
        `the key ${JSON.stringify(shorten(key, SHOWN))} at ${shorten(path, PATH_SHOWN)} appears ` +
        'twice in one object; readers disagree on which value counts (some take the first, ' +
        'some the last): keep one'
      );
    }
    object.keys!.add(key);
    return undefined;
  };

  for (;;) {
    // A value at `path`.
    skipSpace();
    const first = text[at];
    if (first === '{' || first === '[') {
      at++;
      skipSpace();
      const container: Container = {
        path,
        keys: first === '{' ? new Set() : undefined,
        index: 0,
      };
      if (text[at] === '}' || text[at] === ']') {
        at++; // empty: a whole value already
      } else {
        stack.push(container);
        if (container.keys) {
          const problem = readKey(container);
          if (problem) return problem;
        } else {
          path = `${container.path}[0]`;
        }
        continue;
      }
    } else if (first === '"') {
      const start = at;
      skipString();
      const problem = stringProblem(text.slice(start, at), path);
      if (problem) return problem;
    } else if (first === 't' || first === 'n') {
      at += 4;
    } else if (first === 'f') {
      at += 5;
    } else {
      NUMBER.lastIndex = at;
      const literal = NUMBER.exec(text)![0];
      at += literal.length;
      const problem = numberProblem(literal);
      if (problem) {
        return `the number ${shorten(literal, SHOWN)} at ${shorten(path, PATH_SHOWN)} ${problem}`;
      }
    }

    // After a value: a comma leads to the next one; a bracket closes its container.
    for (;;) {
      const container = stack.at(-1);
      if (!container) return undefined;
      skipSpace();
      const next = text[at++];
      if (next === ',') {
        if (container.keys) {
          const problem = readKey(container);
          if (problem) return problem;
        } else {
          container.index++;
          path = `${container.path}[${container.index}]`;
        }
        break;
      }
      stack.pop(); // } or ]
    }
  }
}

/**
 * How deep arrays and objects nest in `text`, counted as cjson and checkEvidence count it
 * (the outermost array or object is level 1, an empty one is a level too), by one pass over
 * the brackets outside strings: no parse, no recursion, so any depth is measured in time
 * linear in the text. Text that is not JSON gets a number all the same.
 */
export function nestingDepth(text: string): number {
  let depth = 0;
  let deepest = 0;
  for (let at = 0; at < text.length; at++) {
    const c = text.charCodeAt(at);
    if (c === 0x22) {
      // A string: to its closing quote, past escaped characters.
      for (at++; at < text.length && text.charCodeAt(at) !== 0x22; at++) {
        if (text.charCodeAt(at) === 0x5c) at++;
      }
    } else if (c === 0x5b || c === 0x7b) {
      if (++depth > deepest) deepest = depth;
    } else if (c === 0x5d || c === 0x7d) {
      depth--;
    }
  }
  return deepest;
}
