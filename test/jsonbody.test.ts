// The body scanner against JSON.parse: the same bodies accepted, the same facts read, whatever
// the chunks the body arrives in.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { JsonBodyError, JsonBodyScanner, MAX_DEPTH, parseBodyFacts, replaceModel, type BodyFacts, type JsonType } from '../src/jsonbody.js';

function scan(raw: Buffer, cuts: number[] = [], required = 'messages'): BodyFacts {
  const scanner = new JsonBodyScanner(Buffer.from(required));
  let from = 0;
  for (const cut of [...cuts].sort((a, b) => a - b)) {
    const at = Math.min(raw.length, Math.max(from, cut));
    scanner.push(raw.subarray(from, at));
    from = at;
  }
  scanner.push(raw.subarray(from));
  return scanner.finish();
}

function typeOf(value: unknown): JsonType | undefined {
  if (value === undefined) return undefined;
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'array';
  return typeof value as JsonType;
}

/** What JSON.parse makes of the body: the facts the scanner should report, or 'invalid' / 'not an object'. */
function expected(raw: Buffer): 'invalid' | 'not an object' | { model: unknown; stream: boolean; required: JsonType | undefined; maxTokens: number | null } {
  let json: unknown;
  try {
    json = JSON.parse(raw.toString('utf8'));
  } catch {
    return 'invalid';
  }
  if (json === null || typeof json !== 'object' || Array.isArray(json)) return 'not an object';
  const object = json as Record<string, unknown>;
  const own = (key: string) => (Object.prototype.hasOwnProperty.call(object, key) ? object[key] : undefined);
  // The first top-level output bound that is a whole number of tokens (Gemini's nested one is read from a parsed body alone).
  let maxTokens: number | null = null;
  for (const field of ['max_completion_tokens', 'max_tokens', 'max_output_tokens']) {
    const bound = own(field);
    if (Number.isSafeInteger(bound) && (bound as number) >= 0) {
      maxTokens = bound as number;
      break;
    }
  }
  return { model: own('model'), stream: own('stream') === true, required: typeOf(own('messages')), maxTokens };
}

function compare(raw: Buffer, cuts: number[]): void {
  const want = expected(raw);
  let got: BodyFacts | JsonBodyError;
  try {
    got = scan(raw, cuts);
  } catch (err) {
    if (!(err instanceof JsonBodyError)) throw err;
    got = err;
  }
  const text = raw.toString('utf8');
  if (want === 'invalid') {
    assert.ok(got instanceof JsonBodyError, `accepted what JSON.parse refuses: ${JSON.stringify(text)}`);
    return;
  }
  if (want === 'not an object') {
    assert.ok(got instanceof JsonBodyError && got.notAnObject, `not reported as a non-object: ${JSON.stringify(text)}`);
    return;
  }
  assert.ok(!(got instanceof JsonBodyError), `refused what JSON.parse accepts: ${JSON.stringify(text)}: ${String(got)}`);
  assert.equal(got.modelType, typeOf(want.model), text);
  if (typeof want.model === 'string') {
    assert.equal(got.model, want.model, text);
    // The recorded token is the model's own JSON text.
    assert.equal(JSON.parse(raw.subarray(got.modelStart, got.modelEnd).toString('utf8')), want.model);
  }
  assert.equal(got.stream, want.stream, text);
  assert.equal(got.requiredType, want.required, text);
  assert.equal(got.maxTokens, want.maxTokens, text);
  // A small body is read by parseBodyFacts instead: the same facts.
  const parsed = parseBodyFacts(raw, 'messages');
  assert.deepEqual([parsed.modelType, parsed.model, parsed.stream, parsed.requiredType, parsed.maxTokens], [got.modelType, got.model, got.stream, got.requiredType, got.maxTokens]);
}

const key = fc.oneof(
  fc.constantFrom('model', 'stream', 'messages', 'm\\u006fdel', 'str\\u0065am', 'x', '', 'max_tokens', 'max_completion_tokens', 'max_output_tokens', 'max_\\u0074okens'),
  fc.string({ maxLength: 8 }),
);
const scalar = fc.oneof(
  fc.constantFrom('true', 'false', 'null', '0', '-0', '1e400', '-1.5E-3', '12345678901234567891', '"a\\"b"', '"\\ud83d"', '"é"', '64', '4096', '5.0', '2e3', '9007199254740993', '"64"'),
  fc.string({ maxLength: 12 }).map((s) => JSON.stringify(s)),
  fc.double({ noNaN: true, noDefaultInfinity: true }).map(String),
);
/** JSON text with the keys the scanner reads, duplicates and escapes included, and odd spacing. */
const space = fc.constantFrom('', ' ', '\n', '\t', '\r\n  ');
const value: fc.Arbitrary<string> = fc.letrec<{ value: string }>((tie) => ({
  value: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    scalar,
    fc.array(tie('value'), { maxLength: 4 }).map((items) => `[${items.join(',')}]`),
    fc
      .array(fc.tuple(key, tie('value'), space), { maxLength: 5 })
      .map((members) => `{${members.map(([k, v, s]) => `${s}"${k}"${s}:${s}${v}${s}`).join(',')}}`),
  ),
})).value;
const body = fc.oneof(
  value,
  fc.array(fc.tuple(key, value), { maxLength: 6 }).map((members) => `{${members.map(([k, v]) => `"${k}":${v}`).join(',')}}`),
);
/** A body with a few bytes changed: mostly invalid JSON, sometimes still valid in a new way. */
const mutated = fc
  .tuple(body, fc.array(fc.tuple(fc.nat(), fc.nat(3), fc.constantFrom(...'{}[],:"\\ 0123456789eE.+-tfnulr\u0000\u001f\u007fé'.split(''))), { maxLength: 3 }))
  .map(([text, edits]) => {
    let out = text;
    for (const [at, kind, char] of edits) {
      const i = out.length === 0 ? 0 : at % (out.length + 1);
      if (kind === 0) out = out.slice(0, i) + out.slice(i + 1);
      else if (kind === 1) out = out.slice(0, i) + char + out.slice(i + 1);
      else out = out.slice(0, i) + char + out.slice(i);
    }
    return out;
  });
const cuts = fc.array(fc.nat(400), { maxLength: 6 });

describe('JSON body scanner', () => {
  test('accepts and reads exactly what JSON.parse does, in any chunks', () => {
    fc.assert(fc.property(body, cuts, (text, at) => compare(Buffer.from(text), at)), { numRuns: 3_000, seed: 42 });
  });

  test('refuses exactly what JSON.parse refuses, in any chunks', () => {
    fc.assert(fc.property(mutated, cuts, (text, at) => compare(Buffer.from(text), at)), { numRuns: 5_000, seed: 7 });
  });

  test('invalid UTF-8 and raw bytes are judged as JSON.parse judges their decoded text', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 40 }), cuts, (bytes, at) => {
        compare(Buffer.concat([Buffer.from('{"model":"'), Buffer.from(bytes), Buffer.from('"}')]), at);
        compare(Buffer.from(bytes), at);
      }),
      { numRuns: 3_000, seed: 3 },
    );
  });

  test('known cases', () => {
    const cases = [
      '{}',
      ' {"model":"a"} ',
      '{"model":"a","model":7}',
      '{"model":7,"model":"b"}',
      '{"stream":true,"stream":false}',
      '{"messages":[],"messages":null}',
      '{"model":"\\u0061\\/b"}',
      '{"a":{"model":"inner"},"model":"outer"}',
      '{"__proto__":{"model":"x"}}',
      '{"model":"a",}',
      '{"model":"a"}x',
      '{"n":01}',
      '{"n":1.}',
      '{"n":-}',
      '{"n":1e}',
      '{"s":"\t"}',
      '{"s":"\\x"}',
      '{"s":"\\u12g4"}',
      '{"t":tru}',
      '{"t":truee}',
      '',
      '[]',
      '"text"',
      '\ufeff{}',
    ];
    for (const text of cases) for (let cut = 0; cut <= text.length; cut++) compare(Buffer.from(text), [cut]);
  });

  test('nesting is bounded, without recursion', () => {
    const within = '{"a":' + '['.repeat(MAX_DEPTH - 1) + ']'.repeat(MAX_DEPTH - 1) + '}';
    assert.doesNotThrow(() => scan(Buffer.from(within)));
    const deep = '{"a":' + '['.repeat(100_000) + ']'.repeat(100_000) + '}';
    assert.throws(() => scan(Buffer.from(deep)), /nested deeper than 512 levels/);
    // Parsed whole (a small body), the same bound, at the same depth.
    assert.doesNotThrow(() => parseBodyFacts(Buffer.from(within), 'messages'));
    const over = '{"a":' + '['.repeat(MAX_DEPTH) + ']'.repeat(MAX_DEPTH) + '}';
    assert.throws(() => scan(Buffer.from(over)), /nested deeper than 512 levels/);
    assert.throws(() => parseBodyFacts(Buffer.from(over), 'messages'), /nested deeper than 512 levels/);
  });

  test('a long model is reported as too long, without being read', () => {
    const facts = scan(Buffer.from(JSON.stringify({ model: 'm'.repeat(100_000), messages: [] })), [10, 5_000]);
    assert.equal(facts.modelType, 'string');
    assert.equal(facts.modelTooLong, true);
    assert.equal(facts.model, undefined);
  });

  test('errors say where', () => {
    assert.throws(() => scan(Buffer.from('{"model": x}')), { message: "Request body is not valid JSON: expected a value at byte 10, found 'x'." });
    assert.throws(() => scan(Buffer.from('{"model": "a"')), /ends at byte 13 before the JSON does/);
  });
});

describe('replaceModel', () => {
  const replaced = (text: string, model = 'provider-model'): string => {
    const raw = Buffer.from(text);
    return Buffer.from(replaceModel(raw, parseBodyFacts(raw, 'messages'), model) as Buffer).toString();
  };

  test('the top-level model is replaced and every other byte kept, whatever the whitespace', () => {
    assert.equal(replaced('{"model":"route","messages":[]}'), '{"model":"provider-model","messages":[]}');
    assert.equal(replaced('{ "messages": [], "model" :\n\t"route" }'), '{ "messages": [], "model" :\n\t"provider-model" }');
  });

  test('a key given twice: the last one, the one parsers keep, is replaced', () => {
    assert.equal(replaced('{"model":"a","messages":[],"model":"b"}'), '{"model":"a","messages":[],"model":"provider-model"}');
  });

  test('the same name elsewhere (a nested model, a message that quotes it) is left as it was', () => {
    const nested = '{"messages":[{"role":"user","content":"use \\"model\\":\\"route\\" here"}],"tools":[{"type":"function","function":{"name":"f","parameters":{"model":"route"}}}],"model":"route"}';
    const out = JSON.parse(replaced(nested));
    assert.equal(out.model, 'provider-model');
    assert.equal(out.tools[0].function.parameters.model, 'route');
    assert.equal(out.messages[0].content, 'use "model":"route" here');
  });
});

test('a parsed body names its output bound, in whichever field its API declares it', () => {
  const bound = (body: unknown) => parseBodyFacts(Buffer.from(JSON.stringify(body)), 'messages').maxTokens;
  assert.equal(bound({ model: 'm', messages: [], max_tokens: 64 }), 64);
  assert.equal(bound({ model: 'm', messages: [], max_completion_tokens: 32, max_tokens: 64 }), 32);
  assert.equal(bound({ model: 'm', input: 'x', max_output_tokens: 128 }), 128);
  assert.equal(bound({ contents: [], generationConfig: { maxOutputTokens: 256 } }), 256);
  // None declared, or not a whole number of tokens: the gateway's default applies.
  assert.equal(bound({ model: 'm', messages: [] }), null);
  assert.equal(bound({ model: 'm', messages: [], max_tokens: '64' }), null);
  assert.equal(bound({ model: 'm', messages: [], max_tokens: 1.5 }), null);
  assert.equal(bound({ model: 'm', messages: [{ role: 'user', content: '"max_tokens": 9' }] }), null);
  // A scanned (large) body reads its top-level bound as it goes by: one nested deeper, or named in
  // a message, is not the request's.
  const large = JSON.stringify({
    model: 'm',
    messages: [{ role: 'user', content: `"max_tokens": 900000 ${'x'.repeat(70_000)}` }],
    tools: [{ type: 'function', function: { name: 'f', parameters: { type: 'object', properties: { max_tokens: { type: 'integer', default: 900000 } } } } }],
    response_format: { max_tokens: 900000 },
    max_tokens: 64,
  });
  for (const cut of [0, 100, large.length - 5, large.length - 3]) assert.equal(scan(Buffer.from(large), [cut]).maxTokens, 64, `cut at ${cut}`);
  assert.equal(scan(Buffer.from('{"max_tokens":64,"max_tokens":"64"}')).maxTokens, null, 'a later duplicate that is no number declares none, as in JSON.parse');
  assert.equal(scan(Buffer.from('{"max_output_tokens":7,"max_completion_tokens":5e1}')).maxTokens, 50);
  // A long number is read across chunks, as JSON.parse reads it, up to a bound on its text.
  const long = `{"max_tokens":64.${'0'.repeat(500)},"max_output_tokens":${'9'.repeat(2_000)}}`;
  for (const cut of [15, 100, 300, 600, 1_500]) {
    assert.equal(scan(Buffer.from(long), [cut, cut + 7]).maxTokens, 64, `cut at ${cut}`);
    assert.equal(scan(Buffer.from(long.replace('"max_tokens"', '"other"')), [cut]).maxTokens, null, 'a number past the bound declares none');
  }
});
