// Fuzzing: generated requests, well-formed or not, at every route, over undici and over raw TCP.
// Whatever arrives, an answer follows in time, its status is 2xx/4xx/5xx, errors are OpenAI-shaped,
// and no answer carries a stack trace or the client's key.
//
// Bounded in time: FUZZ_TIME_MS (default 22 s) is shared among the properties below. Replayable: the
// seed (FUZZ_SEED, fixed by default) and each property's case count are printed as diagnostics; a
// failure prints fast-check's report (seed, path, counterexample) and the request as sent.
// FUZZ_RUNS caps the cases per property, for a replay that does not depend on the machine's speed.
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { after, before, describe, test, type TestContext } from 'node:test';
import fc from 'fast-check';
import { Pool, errors as undiciErrors } from 'undici';
import { KEY, MODEL, startStack, unreachableProviders, type Stack } from './helpers.js';

const SEED = envInt('FUZZ_SEED', 20_250_611);
const TIME_MS = envInt('FUZZ_TIME_MS', 22_000);
const RUNS = envInt('FUZZ_RUNS', 10_000_000);
/** fast-check's replay path from a failure report (use with --test-name-pattern for that property). */
const REPLAY_PATH = process.env.FUZZ_PATH || undefined;
/** A file to write the last failing raw request's bytes to, for replay with nc or a script. */
const DUMP_FILE = process.env.FUZZ_DUMP || undefined;
const ANSWER_TIMEOUT_MS = 10_000;
// Small limits, so that 413 and 408 are reachable in a fuzz run's time.
const MAX_BODY_BYTES = 256 * 1024;
const SLOW_CLIENT_TIMEOUT_MS = 500;
const REQUEST_ID = /^[\w.:@/+=-]{1,128}$/;
// A JavaScript stack frame, raw or inside a JSON string.
const STACK_FRAME = /(?:\n|\\n) {4}at \S.*:\d+:\d+/;

function envInt(name: string, fallback: number): number {
  const value = process.env[name];
  if (value === undefined || value === '') return fallback;
  const n = Number(value);
  if (!Number.isSafeInteger(n)) throw new Error(`${name} must be an integer, got "${value}"`);
  return n;
}

let stack: Stack;
let pool: Pool;
let port: number;
before(async () => {
  stack = await startStack({
    ...unreachableProviders(),
    LOG_LEVEL: 'silent',
    MAX_BODY_BYTES: String(MAX_BODY_BYTES),
    HEADERS_TIMEOUT_MS: String(SLOW_CLIENT_TIMEOUT_MS),
    BODY_TIMEOUT_MS: String(SLOW_CLIENT_TIMEOUT_MS),
  });
  port = (stack.gateway.server.address() as { port: number }).port;
  pool = new Pool(stack.origin, { connections: 2, pipelining: 1 });
});
after(async () => {
  await pool.close();
  await stack.close();
});

// ---------------------------------------------------------------------------------------------
// Values that print small: long strings and deep nesting are kept as recipes until sent.

/** `text` repeated `times` times; JSON.stringify writes it as the long string. */
class Big {
  constructor(
    readonly text: string,
    readonly times: number,
  ) {}
  toJSON(): string {
    return this.text.repeat(this.times);
  }
  toString(): string {
    return this.toJSON();
  }
  [fc.toStringMethod](): string {
    return `${JSON.stringify(this.text)}.repeat(${this.times})`;
  }
}

/** `depth` nested arrays or objects around `leaf`, as raw JSON text (too deep for JSON.stringify). */
class Deep {
  constructor(
    readonly depth: number,
    readonly kind: 'array' | 'object',
    readonly leaf: string,
  ) {}
  text(): string {
    return this.kind === 'array'
      ? '['.repeat(this.depth) + this.leaf + ']'.repeat(this.depth)
      : '{"a":'.repeat(this.depth) + this.leaf + '}'.repeat(this.depth);
  }
  [fc.toStringMethod](): string {
    return `Deep(${this.depth} ${this.kind}s around ${this.leaf})`;
  }
}

type HeaderValue = string | Big;
type HeaderList = [string, HeaderValue][];

/** A request body, before it is turned into bytes. */
type BodySpec =
  | { kind: 'none' }
  | { kind: 'json'; value: unknown }
  | { kind: 'text'; text: string }
  | { kind: 'bytes'; bytes: Uint8Array }
  /** `fields` as JSON with `field` (or the whole body, when null) set to the deep value. */
  | { kind: 'deep'; fields: Record<string, unknown>; field: string | null; deep: Deep };

function bodyBytes(spec: BodySpec): Buffer | undefined {
  switch (spec.kind) {
    case 'none':
      return undefined;
    case 'json':
      return Buffer.from(JSON.stringify(spec.value) ?? 'null');
    case 'text':
      return Buffer.from(spec.text);
    case 'bytes':
      return Buffer.from(spec.bytes);
    case 'deep': {
      if (spec.field === null) return Buffer.from(spec.deep.text());
      const { [spec.field]: _replaced, ...rest } = spec.fields;
      const head = JSON.stringify(rest).slice(0, -1);
      return Buffer.from(`${head}${head.length > 1 ? ',' : ''}${JSON.stringify(spec.field)}:${spec.deep.text()}}`);
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Generators

const printableChar = fc.integer({ min: 0x20, max: 0x7e }).map((c) => String.fromCharCode(c));
const printable = fc.string({ unit: printableChar, maxLength: 40 });
const tokenChar = fc.constantFrom(...'abcdefghijklmnopqrstuvwxyz0123456789-_'.split(''));
const token = fc.string({ unit: tokenChar, minLength: 1, maxLength: 12 });
const loneSurrogate = fc.integer({ min: 0xd800, max: 0xdfff }).map((c) => String.fromCharCode(c));

const text = fc.oneof(
  { weight: 4, arbitrary: fc.string({ maxLength: 30 }) },
  { weight: 2, arbitrary: fc.string({ unit: 'grapheme', maxLength: 20 }) },
  { weight: 2, arbitrary: fc.string({ unit: 'binary', maxLength: 20 }) },
  {
    weight: 1,
    arbitrary: fc.array(fc.oneof(fc.string({ maxLength: 3 }), loneSurrogate), { maxLength: 6 }).map((parts) => parts.join('')),
  },
  {
    weight: 1,
    arbitrary: fc.constantFrom(
      '', '\u0000', '\u2028\u2029', '\ufeff', '"\\/\b\f\n\r\t', '</script>', '%s%n${x}',
      '"usage":{"prompt_tokens":1,"completion_tokens":2}', 'data: [DONE]\n\n', 'Bearer abc',
    ),
  },
);
const bigText = fc
  .tuple(fc.constantFrom('a', 'é', '😀', '\\', '"', '\u0000', '\ud800', ' '), fc.integer({ min: 1_000, max: 120_000 }))
  .map(([unit, times]) => new Big(unit, times));
const jsonValue = fc.jsonValue({ maxDepth: 3 });
const wrongType = fc.oneof(
  fc.constant(null),
  fc.boolean(),
  fc.integer(),
  fc.double(),
  fc.array(fc.jsonValue({ maxDepth: 1 }), { maxLength: 3 }),
  fc.dictionary(token, fc.jsonValue({ maxDepth: 1 }), { maxKeys: 3 }),
);

const modelName = fc.oneof(
  {
    weight: 8,
    arbitrary: fc.constantFrom(
      MODEL, 'llama-v3p1-8b-instruct', 'accounts/fireworks/models/deepseek-v3',
      'nomic-ai/nomic-embed-text-v1.5', 'accounts/me/models/ft-1',
      'accounts/fireworks/models/llama-v3p1-8b-instruct#accounts/me/deployments/d1',
      'accounts/fireworks/models/nope',
    ),
  },
  { weight: 2, arbitrary: text },
  { weight: 1, arbitrary: bigText },
  { weight: 1, arbitrary: wrongType },
);
const content = fc.oneof(
  { weight: 6, arbitrary: text },
  { weight: 1, arbitrary: bigText },
  {
    weight: 1,
    arbitrary: fc.array(fc.record({ type: fc.constantFrom('text', 'image_url', 'x'), text }, { requiredKeys: [] }), { maxLength: 3 }),
  },
  { weight: 1, arbitrary: wrongType },
);
const message = fc.oneof(
  {
    weight: 6,
    arbitrary: fc.record(
      { role: fc.oneof(fc.constantFrom('user', 'system', 'assistant', 'tool', 'developer'), text), content, name: text },
      { requiredKeys: ['role', 'content'] },
    ),
  },
  { weight: 1, arbitrary: jsonValue },
);
const messages = fc.oneof(
  { weight: 8, arbitrary: fc.array(message, { minLength: 1, maxLength: 4 }) },
  { weight: 1, arbitrary: fc.constant([]) },
  { weight: 1, arbitrary: wrongType },
);
const promptLike = fc.oneof(
  { weight: 4, arbitrary: text },
  { weight: 1, arbitrary: bigText },
  { weight: 2, arbitrary: fc.array(text, { maxLength: 3 }) },
  { weight: 1, arbitrary: fc.array(fc.integer(), { maxLength: 5 }) },
  { weight: 1, arbitrary: fc.array(fc.array(fc.nat(50_000), { maxLength: 3 }), { maxLength: 2 }) },
  { weight: 1, arbitrary: wrongType },
);
const requestFields = fc.record(
  {
    model: modelName,
    messages,
    prompt: promptLike,
    input: promptLike,
    stream: fc.oneof({ weight: 3, arbitrary: fc.boolean() }, { weight: 1, arbitrary: fc.constantFrom('true', 1, null) }),
    stream_options: fc.oneof(fc.record({ include_usage: fc.boolean() }), jsonValue),
    n: fc.oneof(fc.integer({ min: -2, max: 130 }), wrongType),
    max_tokens: fc.oneof(fc.integer({ min: -5, max: 100 }), wrongType),
    temperature: fc.oneof(fc.double(), wrongType),
    tools: fc.oneof(
      fc.array(fc.record({ type: fc.constant('function'), function: fc.record({ name: text, parameters: jsonValue }) }), {
        maxLength: 2,
      }),
      jsonValue,
    ),
    tool_choice: fc.oneof(fc.constantFrom('auto', 'none', 'required'), jsonValue),
    response_format: fc.oneof(
      fc.record({ type: fc.constantFrom('json_object', 'json_schema', 'text'), json_schema: fc.record({ schema: jsonValue }) }),
      jsonValue,
    ),
    echo: fc.oneof(fc.boolean(), jsonValue),
    dimensions: fc.oneof(fc.integer({ min: -1, max: 1_000 }), wrongType),
    encoding_format: fc.oneof(fc.constantFrom('float', 'base64', 'x'), wrongType),
  },
  { requiredKeys: [] },
);
// Never `sim`: the simulator's fault object can stall it on purpose.
const extraKey = fc
  .oneof(token, fc.string({ maxLength: 8 }), fc.constantFrom('__proto__', 'constructor', 'toString', '', 'model ', 'Model'))
  .filter((key) => key !== 'sim');
const requestObject = fc
  .tuple(requestFields, fc.dictionary(extraKey, fc.jsonValue({ maxDepth: 2 }), { maxKeys: 3 }))
  .map(([fields, extra]) => ({ ...extra, ...fields }) as Record<string, unknown>);

// Literals JSON.stringify cannot write.
const oddLiteral = fc.constantFrom(
  '1e400', '-1e400', '-0', '-0.0', '1E-400', '123456789012345678901234567890', '9007199254740993', '0.1e1',
  '1.0', '"\\ud800"', '"\\udc00\\ud800"', '"\\u0000"', '[]', '{}', 'null', 'true', `"${MODEL}"`,
  '[{"role":"user","content":"hi"}]',
);
const rawValue = fc.oneof(
  oddLiteral,
  jsonValue.map((v) => JSON.stringify(v)),
  modelName.map((v) => JSON.stringify(v) ?? 'null'),
);
const duplicateKeys = fc
  .array(fc.tuple(fc.constantFrom('model', 'messages', 'stream', 'prompt', 'input', 'n', '__proto__', 'max_tokens'), rawValue), {
    minLength: 1,
    maxLength: 7,
  })
  .map((pairs) => `{${pairs.map(([key, value]) => `"${key}":${value}`).join(',')}}`);
const oddSyntax = fc.constantFrom(
  "{'model': 'x'}",
  '{"model":"x",}',
  `{"model":"${MODEL}","messages":[{"role":"user","content":"hi"}]} trailing`,
  `\ufeff{"model":"${MODEL}","messages":[{"role":"user","content":"hi"}]}`,
  `{"model":"${MODEL}","messages":[{"role":"user","content":"hi"}]}\u0000`,
  '{"a":NaN}',
  '{"a":Infinity}',
  '{"a":undefined}',
  '// c\n{}',
  '{"a":"\\x41"}',
  '{"a":01}',
  '[',
  '{',
  '"',
  ' ',
  '\n\n',
  '{"model"}',
  '{"model":}',
);
// Bytes that are not UTF-8, inside an otherwise good request.
const badUtf8 = fc.constantFrom([0xff], [0xfe, 0xff], [0xc0, 0x80], [0xed, 0xa0, 0x80], [0xf4, 0x90, 0x80, 0x80], [0xe2, 0x82], [0x80]);
const textBody = fc.oneof(
  { weight: 3, arbitrary: fc.json({ maxDepth: 3 }) },
  {
    weight: 3,
    arbitrary: fc.tuple(requestObject, fc.nat()).map(([object, at]) => {
      const json = JSON.stringify(object);
      return json.slice(0, at % json.length);
    }),
  },
  { weight: 3, arbitrary: duplicateKeys },
  {
    weight: 2,
    arbitrary: fc
      .tuple(fc.constantFrom('model', 'messages', 'n', 'max_tokens', 'temperature', 'stream', 'prompt', 'input', 'dimensions'), oddLiteral)
      .map(
        ([field, literal]) =>
          `{"model":"${MODEL}","messages":[{"role":"user","content":"hi"}],"prompt":"hi","input":"hi","${field}":${literal}}`,
      ),
  },
  { weight: 1, arbitrary: oddSyntax },
);
const bytesBody = fc.oneof(
  fc.uint8Array({ maxLength: 200 }),
  fc.tuple(badUtf8, fc.constantFrom('model', 'content')).map(([bad, where]) => {
    const marker = Buffer.from(bad);
    const [before, after] =
      where === 'model'
        ? ['{"model":"llama', `","messages":[{"role":"user","content":"hi"}],"prompt":"hi","input":"hi"}`]
        : [`{"model":"${MODEL}","prompt":"`, `","input":"x","messages":[{"role":"user","content":"hi`];
    return new Uint8Array(Buffer.concat([Buffer.from(before), marker, Buffer.from(after + (where === 'model' ? '' : '"}]}'))]));
  }),
);
const deepValue = fc
  .tuple(
    fc.oneof(
      { weight: 3, arbitrary: fc.integer({ min: 1, max: 200 }) },
      { weight: 2, arbitrary: fc.integer({ min: 200, max: 10_000 }) },
      { weight: 2, arbitrary: fc.constantFrom(1_000, 5_000, 9_999, 10_000) },
    ),
    fc.constantFrom<'array' | 'object'>('array', 'object'),
    fc.constantFrom('1', '"x"', '[]', '{}', 'null', ''),
  )
  .map(([depth, kind, leaf]) => new Deep(depth, kind, leaf));
/** A request with a deeply nested value somewhere (or as the whole body); `model` as given. */
const deepBody = (model: fc.Arbitrary<unknown>): fc.Arbitrary<BodySpec> =>
  fc
    .tuple(
      requestObject,
      model,
      fc.constantFrom(null, 'messages', 'model', 'prompt', 'input', 'tools', 'response_format', 'x'),
      deepValue,
    )
    .map(([fields, model, field, deep]) => ({ kind: 'deep', fields: { ...fields, model }, field, deep }));
// The gateway sends these bodies on byte for byte; short names make it rewrite (re-serialise) the body.
const modelSentAsIs = fc.oneof(fc.constantFrom(MODEL, 'accounts/me/models/ft-1', 'nomic-ai/nomic-embed-text-v1.5', ''), wrongType);
const modelRewritten = fc.oneof(fc.constantFrom('llama-v3p1-8b-instruct', 'deepseek-v3', 'nope'), text.filter((t) => t !== '' && !t.includes('/')));

const jsonBody: fc.Arbitrary<BodySpec> = fc.oneof(
  { weight: 12, arbitrary: requestObject.map((value): BodySpec => ({ kind: 'json', value })) },
  { weight: 2, arbitrary: jsonValue.map((value): BodySpec => ({ kind: 'json', value })) },
  { weight: 5, arbitrary: textBody.map((text): BodySpec => ({ kind: 'text', text })) },
  { weight: 1, arbitrary: bytesBody.map((bytes): BodySpec => ({ kind: 'bytes', bytes })) },
  { weight: 1, arbitrary: fc.constant<BodySpec>({ kind: 'none' }) },
);

/** A header value `prefix` + "x" * times, printed small. */
class LongValue extends Big {
  constructor(
    readonly prefix: string,
    times: number,
  ) {
    super('x', times);
  }
  override toJSON(): string {
    return this.prefix + super.toJSON();
  }
  override [fc.toStringMethod](): string {
    return `${JSON.stringify(this.prefix)} + "x".repeat(${this.times})`;
  }
}

/** A long header value: `prefix` then 200 to 20,000 x's (past the 16 KiB header limit at the top). */
const long = (prefix: string): fc.Arbitrary<HeaderValue> =>
  fc.integer({ min: 200, max: 20_000 }).map((times) => new LongValue(prefix, times));

const contentType = fc.oneof(
  { weight: 12, arbitrary: fc.constant<HeaderValue | undefined>('application/json') },
  {
    weight: 2,
    arbitrary: fc.constantFrom<HeaderValue | undefined>(
      undefined, 'text/plain', 'application/json; charset=utf-8', 'application/json;charset=UTF-8',
      'Application/JSON', 'APPLICATION/JSON; CHARSET=LATIN1', ' application/json ', 'application/json;;;',
      'application/jsonx', 'application/vnd.api+json', 'application/x-www-form-urlencoded',
      'multipart/form-data; boundary=x', 'json', '', ';', '*/*',
    ),
  },
  { weight: 1, arbitrary: long('application/json; x=') },
  { weight: 1, arbitrary: printable },
);
const authorization = fc.oneof(
  { weight: 14, arbitrary: fc.constant<HeaderValue | undefined>(`Bearer ${KEY}`) },
  {
    weight: 2,
    arbitrary: fc.constantFrom<HeaderValue | undefined>(
      undefined, '', 'Bearer', 'Bearer ', `bearer ${KEY}`, `BEARER   ${KEY}  `, KEY, 'Basic Zm9vOmJhcg==',
      'Bearer use-server-key', 'bearer USE-SERVER-KEY', 'Bearer sk-abcdefghijklmnop', 'Bearer fw_',
      `Token ${KEY}`, `Bearer ${KEY} extra`, `Bearer ${KEY},Bearer ${KEY}`,
    ),
  },
  { weight: 1, arbitrary: printable.map((value) => `Bearer ${value}`) },
  { weight: 1, arbitrary: long('Bearer fw_') },
);
const provider = fc.oneof(
  { weight: 8, arbitrary: fc.constant<HeaderValue | undefined>(undefined) },
  { weight: 4, arbitrary: fc.constant<HeaderValue | undefined>('fireworks') },
  {
    weight: 2,
    arbitrary: fc.constantFrom<HeaderValue | undefined>(
      'FireWorks', ' fireworks ', 'FIREWORKS', '', 'nosuch', 'anthropix', 'fireworks, fireworks', '__proto__',
      'constructor', 'hasOwnProperty',
    ),
  },
  { weight: 1, arbitrary: printable },
  { weight: 1, arbitrary: long('fireworks') },
);
const gatewayNumber = fc.oneof(
  { weight: 12, arbitrary: fc.constant<HeaderValue | undefined>(undefined) },
  { weight: 2, arbitrary: fc.integer({ min: -5, max: 20 }).map((n): HeaderValue | undefined => String(n)) },
  {
    weight: 2,
    arbitrary: fc.constantFrom<HeaderValue | undefined>(
      '1.5', '1e400', '1e3', '99999999999999999999', '-0', '0x10', '0b1', '  3 ', '', '   ', 'abc', 'NaN',
      'Infinity', '-Infinity', '1_000', '+2', '2.0', '1,2',
    ),
  },
  { weight: 1, arbitrary: fc.double().map((n): HeaderValue | undefined => String(n)) },
  { weight: 1, arbitrary: printable },
);
const requestId = fc.oneof(
  { weight: 6, arbitrary: fc.constant<HeaderValue | undefined>(undefined) },
  { weight: 2, arbitrary: fc.uuid() },
  { weight: 1, arbitrary: token },
  {
    weight: 1,
    arbitrary: fc.constantFrom<HeaderValue | undefined>(
      '', ' ', 'a b', 'a'.repeat(128), 'a'.repeat(129), '../../etc', 'x\ty', '<script>', 'id,id',
      'req:1@host/path+x=y',
    ),
  },
  { weight: 1, arbitrary: printable },
);
const extraHeaderName = fc.oneof(
  fc.constantFrom(
    'accept', 'accept-encoding', 'cookie', 'x-forwarded-for', 'openai-organization',
    'x-stainless-retry-count', 'user-agent', 'x-api-key', 'x-provider', 'authorization', 'content-type',
    'x-request-id', 'x-gateway-max-retries', 'x-gateway-timeout-ms', 'range', 'if-none-match', 'origin',
    'X-Provider', 'CONTENT-TYPE',
  ),
  token,
);
const extraHeaders = fc.array(
  fc.tuple(extraHeaderName, fc.oneof(printable, fc.constantFrom('gzip, br', 'br', 'trailers', '*/*', 'bytes=0-1', '*'))),
  { maxLength: 3 },
);

/** The named headers, in a random spelling of their names, then any extras (which may repeat one). */
const headerList = fc
  .tuple(
    fc.record({
      'content-type': contentType,
      authorization,
      'x-provider': provider,
      'x-gateway-max-retries': gatewayNumber,
      'x-gateway-timeout-ms': gatewayNumber,
      'x-request-id': requestId,
    }),
    fc.boolean(),
    extraHeaders,
  )
  .map(([named, shout, extras]) => {
    const list: HeaderList = [];
    for (const [name, value] of Object.entries(named)) {
      if (value !== undefined) list.push([shout ? name.toUpperCase() : name, value]);
    }
    return list.concat(extras);
  });

const query = fc.oneof(
  { weight: 8, arbitrary: fc.constant('') },
  { weight: 2, arbitrary: fc.webQueryParameters().map((q) => `?${q}`) },
  {
    weight: 1,
    arbitrary: fc.constantFrom('?', '?&&', '?a=%', '?a=%zz', '?x=1&x=2', '?stream=true', '?api-version=2024-01-01', '?a=%00', '?%2e%2e'),
  },
);
const forwardedPath = fc.oneof(
  fc.constantFrom(
    '/v1/models/accounts%2Ffireworks%2Fmodels%2Fdeepseek-v3',
    `/v1/models/${encodeURIComponent(MODEL)}`,
    '/v1/models/nope',
    '/v1/models/',
    '/v1/rerank',
    '/v1/audio/transcriptions',
    '/v1/',
    '/v1/chat/completions/',
    '/v1/chat//completions',
    '/v1//models',
    '/v1/./models',
    '/v1/../health',
    '/v1/%2e%2e/health',
    '/v1/%2E/models',
    '/v1/.%2e/x',
    '/v1/a/..',
    '/v1/%',
    '/v1/%zz',
    '/v1/%E0%A4%A',
    '/v1/%00',
    '/v1/%ff',
    '/v1/a%2fb',
    '/v1/a%5c..%5cb',
    '/v1/;x',
    '/v1/models;x',
    '/v1/~',
    '/v1/CHAT/COMPLETIONS',
  ),
  fc
    .array(fc.oneof(fc.webSegment(), token, fc.constantFrom('.', '..', '%2e', '%2E%2E', '.%2e', '', '%2f', '%5c', '..;', '%')), {
      maxLength: 5,
    })
    .map((segments) => `/v1/${segments.join('/')}`),
);
const routePath = fc.oneof(
  {
    weight: 6,
    arbitrary: fc.constantFrom('/v1/chat/completions', '/v1/completions', '/v1/embeddings', '/v1/models', '/health'),
  },
  { weight: 4, arbitrary: forwardedPath },
  {
    weight: 2,
    arbitrary: fc.constantFrom(
      '/',
      '/v1',
      '/v2/models',
      '/V1/models',
      '/inference/v1/models',
      '/health/',
      '/healthz',
      '/HEALTH',
      '//v1/models',
      '/.well-known/x',
      '/favicon.ico',
    ),
  },
  { weight: 1, arbitrary: fc.webPath().filter((p) => p.startsWith('/')) },
  { weight: 1, arbitrary: fc.integer({ min: 1_000, max: 20_000 }).map((times) => new LongValue('/v1/', times)) },
);
const jsonRoute = fc.oneof(
  { weight: 12, arbitrary: fc.constantFrom('/v1/chat/completions', '/v1/completions', '/v1/embeddings') },
  { weight: 1, arbitrary: fc.constantFrom('/v1/rerank', '/v1/chat/completions/', '/v1/CHAT/completions', '/v1/chat/completions;x') },
);

// ---------------------------------------------------------------------------------------------
// Sending and checking

interface Answer {
  status: number;
  /** Lower-case names; repeated headers joined with ", ". */
  headers: Map<string, string>;
  body: Buffer;
}

/** What a check needs to know about the request that was sent. */
interface Sent {
  method: string;
  path: string;
  headers: [string, string][];
  body: Buffer | undefined;
  /** Raw TCP: may have been answered by the HTTP layer (malformed input) without a request id. */
  raw?: boolean;
}

function headerValue(value: HeaderValue): string {
  return typeof value === 'string' ? value : value.toJSON();
}

function hasHeader(headers: [string, string][], name: string): boolean {
  return headers.some(([key]) => key.toLowerCase() === name);
}

/** The request as a reader can replay it: long values and bodies are cut. */
function describeRequest(sent: Sent): string {
  const cut = (s: string, max = 300) => (s.length > max ? `${s.slice(0, max)}... (${s.length} chars)` : s);
  const headers = sent.headers.map(([name, value]) => `${name}: ${cut(value, 120)}`).join(' | ');
  const body = sent.body === undefined ? '(none)' : `${sent.body.length} bytes: ${cut(JSON.stringify(sent.body.toString('latin1')))}`;
  return `${sent.method} ${cut(sent.path, 200)}\n  headers: ${headers}\n  body: ${body}`;
}

function describeAnswer(answer: Answer): string {
  const body = answer.body.toString('utf8');
  return `${answer.status} ${answer.headers.get('content-type') ?? '(no content-type)'} ${body.length > 400 ? body.slice(0, 400) + '...' : body}`;
}

/** Statuses the HTTP layer answers with before there is a request (and so a request id). */
const HTTP_LAYER_STATUSES = new Set([400, 408, 431]);

interface CheckOptions {
  /** 5xx answers that this request may legitimately get (provider faults, tiny deadlines). */
  allowServerErrors?: boolean;
  /** The status the answer must have. */
  expectStatus?: number;
  /** Require Allow on every 405, the provider's too (RFC 9110 15.5.6). */
  anyAllow?: boolean;
}

/** Everything any answer must satisfy; throws listing what it does not. */
function checkAnswer(sent: Sent, answer: Answer, options: CheckOptions = {}): void {
  const problems: string[] = [];
  const { status } = answer;
  const text = answer.body.toString('utf8');
  const contentType = answer.headers.get('content-type') ?? '';
  const isHead = sent.method === 'HEAD';

  if (!((status >= 200 && status <= 299) || (status >= 400 && status <= 599))) problems.push(`status ${status} is neither 2xx nor 4xx/5xx`);
  if (options.expectStatus !== undefined && status !== options.expectStatus) problems.push(`status ${status}, expected ${options.expectStatus}`);
  if (STACK_FRAME.test(text)) problems.push('the body contains a stack trace');
  if (text.includes(KEY)) problems.push("the body contains the client's API key");

  let json: unknown;
  if (!isHead && contentType.toLowerCase().startsWith('application/json')) {
    try {
      json = JSON.parse(text);
    } catch {
      problems.push('the body is labelled JSON but does not parse');
    }
  }
  if (status >= 400 && !isHead) {
    const error = (json as { error?: Record<string, unknown> } | undefined)?.error;
    if (!contentType.toLowerCase().startsWith('application/json')) problems.push(`error answer with content-type "${contentType}"`);
    else if (json === undefined) {
      // reported above
    } else if (!error || typeof error !== 'object' || typeof error.message !== 'string' || typeof error.type !== 'string') {
      problems.push('error body is not {"error":{"message": string, "type": string}}');
    } else {
      if (!('code' in error) || !('param' in error)) problems.push('error body lacks "code" or "param"');
      if (error.code === 'internal_error') problems.push('the gateway answered 500 internal_error (a bug by its own account)');
    }
  }
  if (status >= 500 && !options.allowServerErrors) {
    const code = (json as { error?: { code?: unknown } } | undefined)?.error?.code;
    // A deadline the request set itself may run out; nothing else should fail on the server side.
    const ownDeadline =
      status === 504 && (code === 'gateway_timeout' || isHead) && hasHeader(sent.headers, 'x-gateway-timeout-ms');
    if (!ownDeadline && code !== 'internal_error') problems.push(`server error ${status} without a provider fault`);
  }
  if (contentType.startsWith('text/event-stream') && !isHead) {
    const events = text.split('\n').filter((line) => line.startsWith('data: '));
    for (const line of events) {
      if (line === 'data: [DONE]') continue;
      try {
        JSON.parse(line.slice(6));
      } catch {
        problems.push(`stream event is not JSON: ${line.slice(0, 100)}`);
        break;
      }
    }
    const last = events.at(-1);
    if (last !== 'data: [DONE]' && !last?.startsWith('data: {"error":')) problems.push('the stream ends with neither [DONE] nor an error event');
  }
  const errorCode = (json as { error?: { code?: unknown } } | undefined)?.error?.code;
  // The gateway's own 405s; a provider's are checked on their own (`anyAllow`).
  if (status === 405 && (errorCode === 'method_not_allowed' || options.anyAllow) && !answer.headers.has('allow')) {
    problems.push('405 without an Allow header');
  }
  for (const name of answer.headers.keys()) {
    if (name === 'set-cookie' || name.startsWith('fireworks-')) problems.push(`the provider's ${name} header reached the client`);
  }
  const answeredId = answer.headers.get('x-request-id');
  const path = sent.path.split('?', 1)[0];
  if (answeredId !== undefined && !REQUEST_ID.test(answeredId)) problems.push(`x-request-id "${answeredId}" is not a valid id`);
  // Written to the socket by the clientError handler: no Date header, and no request id.
  const httpLayer = HTTP_LAYER_STATUSES.has(status) && !answer.headers.has('date');
  if (!sent.raw && !httpLayer && !(path === '/health' && status === 200)) {
    // Repeated, the header reaches the gateway as one "a, b" value: not a valid id.
    const ownIds = sent.headers.filter(([name]) => name.toLowerCase() === 'x-request-id').map(([, value]) => value);
    const ownId = ownIds.length === 1 ? ownIds[0]!.trim() : undefined;
    if (answeredId === undefined) problems.push('no x-request-id');
    else if (ownId !== undefined && REQUEST_ID.test(ownId) && answeredId !== ownId) {
      problems.push(`x-request-id "${answeredId}" is not the client's valid "${ownId}"`);
    }
  }
  if (problems.length > 0) {
    throw new Error(`${problems.join('; ')}\n  request: ${describeRequest(sent)}\n  answer: ${describeAnswer(answer)}`);
  }
}

/** Whether a body would reach the simulator with a `sim` fault object (never generated freely). */
function carriesSimFault(body: Buffer | undefined, path: string): boolean {
  const queryAt = path.indexOf('?');
  if (queryAt !== -1 && new URLSearchParams(path.slice(queryAt + 1)).has('sim')) return true;
  if (body === undefined || !body.includes('sim')) return false;
  try {
    const json = JSON.parse(body.toString('utf8')) as unknown;
    return json !== null && typeof json === 'object' && Object.prototype.hasOwnProperty.call(json, 'sim');
  } catch {
    return false;
  }
}

class ClientRefused extends Error {}

/** One request over undici; ClientRefused when undici will not send it as it is. */
async function sendUndici(sent: Sent): Promise<Answer> {
  const flat: string[] = [];
  for (const [name, value] of sent.headers) flat.push(name, value);
  const timer = AbortSignal.timeout(ANSWER_TIMEOUT_MS);
  let res;
  try {
    res = await pool.request({
      method: sent.method as never,
      path: sent.path,
      headers: flat,
      body: sent.body ?? null,
      headersTimeout: ANSWER_TIMEOUT_MS,
      bodyTimeout: ANSWER_TIMEOUT_MS,
      signal: timer,
    });
  } catch (err) {
    if (err instanceof undiciErrors.InvalidArgumentError || err instanceof undiciErrors.NotSupportedError) {
      throw new ClientRefused((err as Error).message);
    }
    throw new Error(`no answer (${(err as { code?: string }).code ?? ''} ${(err as Error).message})\n  request: ${describeRequest(sent)}`);
  }
  let body: Buffer;
  try {
    body = Buffer.from(await res.body.arrayBuffer());
  } catch (err) {
    throw new Error(`answer ${res.statusCode} broke off (${(err as Error).message})\n  request: ${describeRequest(sent)}`);
  }
  const headers = new Map<string, string>();
  for (const [name, value] of Object.entries(res.headers)) {
    if (value !== undefined) headers.set(name.toLowerCase(), Array.isArray(value) ? value.join(', ') : value);
  }
  return { status: res.statusCode, headers, body };
}

/** Sends `sent` over undici and checks the answer; cases undici refuses to send are skipped. */
async function exchange(sent: Sent, options: CheckOptions = {}): Promise<void> {
  fc.pre(!carriesSimFault(sent.body, sent.path));
  let answer: Answer;
  try {
    answer = await sendUndici(sent);
  } catch (err) {
    if (err instanceof ClientRefused) {
      fc.pre(false);
    }
    throw err;
  }
  checkAnswer(sent, answer, options);
}

function toSent(method: string, path: string, headers: HeaderList, body: BodySpec): Sent {
  return {
    method,
    path,
    headers: headers.map(([name, value]) => [name, headerValue(value)]),
    body: bodyBytes(body),
  };
}

// ---------------------------------------------------------------------------------------------
// Raw TCP

interface RawOutcome extends RawAnswers {
  timedOut: boolean;
  /** The server reset the connection (ECONNRESET, EPIPE). */
  reset: boolean;
}

interface RawAnswers {
  answers: Answer[];
  /** Bytes after the last whole answer (a partial answer, or junk). */
  rest: Buffer;
  closed: boolean;
}

/** Splits what the server sent into whole answers (interim 1xx answers skipped); `methods` per request. */
function parseAnswers(data: Buffer, methods: string[], closed: boolean): RawAnswers {
  const answers: Answer[] = [];
  let at = 0;
  while (at < data.length) {
    const headEnd = data.indexOf('\r\n\r\n', at);
    if (headEnd === -1) break;
    const lines = data.toString('latin1', at, headEnd).split('\r\n');
    const statusLine = /^HTTP\/1\.[01] (\d{3})(?: .*)?$/.exec(lines[0]!);
    if (!statusLine) throw new Error(`malformed status line ${JSON.stringify(lines[0])}`);
    const status = Number(statusLine[1]);
    const headers = new Map<string, string>();
    for (const line of lines.slice(1)) {
      const colon = line.indexOf(':');
      if (colon <= 0) throw new Error(`malformed header line ${JSON.stringify(line)}`);
      const name = line.slice(0, colon).toLowerCase();
      const value = line.slice(colon + 1).trim();
      headers.set(name, headers.has(name) ? `${headers.get(name)}, ${value}` : value);
    }
    let bodyStart = headEnd + 4;
    if (status >= 100 && status < 200 && status !== 101) {
      at = bodyStart;
      continue;
    }
    const method = methods[answers.length] ?? 'GET';
    let body: Buffer;
    if (method === 'HEAD' || status === 204 || status === 304) {
      body = Buffer.alloc(0);
    } else if ((headers.get('transfer-encoding') ?? '').toLowerCase().includes('chunked')) {
      const parts: Buffer[] = [];
      let p = bodyStart;
      let done = false;
      while (true) {
        const lineEnd = data.indexOf('\r\n', p);
        if (lineEnd === -1) break;
        const size = parseInt(data.toString('latin1', p, lineEnd).split(';', 1)[0]!, 16);
        if (Number.isNaN(size)) throw new Error('malformed chunk size in answer');
        if (size === 0) {
          const end = data.indexOf('\r\n\r\n', lineEnd);
          if (end === -1) break;
          p = end + 4;
          done = true;
          break;
        }
        if (data.length < lineEnd + 2 + size + 2) break;
        parts.push(data.subarray(lineEnd + 2, lineEnd + 2 + size));
        p = lineEnd + 2 + size + 2;
      }
      if (!done) break;
      body = Buffer.concat(parts);
      bodyStart = p;
      answers.push({ status, headers, body });
      at = p;
      continue;
    } else if (headers.has('content-length')) {
      const length = Number(headers.get('content-length'));
      if (!Number.isSafeInteger(length) || length < 0) throw new Error(`malformed content-length ${headers.get('content-length')}`);
      if (data.length < bodyStart + length) break;
      body = data.subarray(bodyStart, bodyStart + length);
      bodyStart += length;
    } else {
      // Delimited by the end of the connection.
      if (!closed) break;
      body = data.subarray(bodyStart);
      bodyStart = data.length;
    }
    answers.push({ status, headers, body });
    at = bodyStart;
  }
  return { answers, rest: data.subarray(at), closed };
}

const CLOSING = /\r\nconnection: *close\r\n/i;

/**
 * Writes `pieces` to a new connection and reads until an answer per request arrived, an answer
 * said `connection: close`, the server closed, or the time ran out.
 */
function sendRaw(pieces: Buffer[], methods: string[], halfClose: boolean): Promise<RawOutcome> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    let data = Buffer.alloc(0);
    let settled = false;
    let reset = false;
    const finish = (closed: boolean, timedOut = false) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      try {
        resolve({ ...parseAnswers(data, methods, closed), timedOut, reset });
      } catch (err) {
        reject(new Error(`unreadable answer (${(err as Error).message}): ${JSON.stringify(data.toString('latin1').slice(0, 400))}`));
      }
    };
    const timer = setTimeout(() => finish(false, true), ANSWER_TIMEOUT_MS);
    socket.on('data', (chunk: Buffer) => {
      data = Buffer.concat([data, chunk]);
      let parsed: RawAnswers;
      try {
        parsed = parseAnswers(data, methods, false);
      } catch {
        return finish(false);
      }
      const last = parsed.answers.at(-1);
      if (parsed.answers.length >= methods.length || (last && /close/i.test(last.headers.get('connection') ?? ''))) finish(false);
    });
    socket.on('error', () => {
      reset = true;
      finish(true);
    });
    socket.on('close', () => finish(true));
    socket.on('connect', async () => {
      for (const piece of pieces) {
        // As HTTP clients do, stop sending once an answer says the server will read no more.
        if (settled || CLOSING.test(data.toString('latin1'))) return;
        socket.write(piece);
        await new Promise((r) => setImmediate(r));
      }
      if (halfClose && !settled) socket.end();
    });
  });
}

interface RawCase {
  method: string;
  target: string | Uint8Array;
  version: string;
  headers: [string, string | Uint8Array][];
  /** Raw header lines, written as they are (malformed ones included). */
  rawLines: string[];
  body: BodySpec;
  framing: Framing;
  eol: '\r\n' | '\n';
  /** Write the request in this many pieces. */
  pieces: number;
  /** Follow with a GET /health on the same connection. */
  pipeline: boolean;
  /** Send only this fraction of the bytes: a request cut short. */
  keep?: number;
}

type Framing =
  | { kind: 'length' }
  | { kind: 'none' }
  | { kind: 'length-off'; by: number }
  | { kind: 'length-text'; value: string }
  | { kind: 'length-twice'; second: number }
  | { kind: 'chunked'; sizes: number[]; upper: boolean; zeros: number; extension: string; trailer: string; terminated: boolean }
  | { kind: 'both' };

/** The bytes of a raw case, and whether the request is deliberately incomplete. */
function rawBytes(c: RawCase): { bytes: Buffer; incomplete: boolean } {
  const eol = c.eol;
  const body = bodyBytes(c.body) ?? Buffer.alloc(0);
  const head: Buffer[] = [Buffer.from(`${c.method} `), Buffer.from(c.target), Buffer.from(` ${c.version}`.trimEnd() + eol)];
  for (const [name, value] of c.headers) head.push(Buffer.from(`${name}: `), Buffer.from(value), Buffer.from(eol));
  for (const line of c.rawLines) head.push(Buffer.from(line + eol));
  let payload = body;
  let incomplete = false;
  const f = c.framing;
  switch (f.kind) {
    case 'none':
      break;
    case 'length':
      head.push(Buffer.from(`content-length: ${body.length}${eol}`));
      break;
    case 'length-off':
      head.push(Buffer.from(`content-length: ${Math.max(0, body.length + f.by)}${eol}`));
      incomplete = f.by > 0;
      break;
    case 'length-text':
      head.push(Buffer.from(`content-length: ${f.value}${eol}`));
      break;
    case 'length-twice':
      head.push(Buffer.from(`content-length: ${body.length}${eol}content-length: ${f.second}${eol}`));
      break;
    case 'both':
      head.push(Buffer.from(`content-length: ${body.length}${eol}transfer-encoding: chunked${eol}`));
      payload = Buffer.concat([Buffer.from(`${body.length.toString(16)}\r\n`), body, Buffer.from('\r\n0\r\n\r\n')]);
      break;
    case 'chunked': {
      head.push(Buffer.from(`transfer-encoding: chunked${eol}`));
      const parts: Buffer[] = [];
      let at = 0;
      for (const size of f.sizes) {
        if (at >= body.length) break;
        const chunk = body.subarray(at, at + Math.max(1, size));
        at += chunk.length;
        let hex = chunk.length.toString(16);
        if (f.upper) hex = hex.toUpperCase();
        parts.push(Buffer.from(`${'0'.repeat(f.zeros)}${hex}${f.extension}\r\n`), chunk, Buffer.from('\r\n'));
      }
      if (at < body.length) {
        const chunk = body.subarray(at);
        parts.push(Buffer.from(`${chunk.length.toString(16)}\r\n`), chunk, Buffer.from('\r\n'));
      }
      if (f.terminated) parts.push(Buffer.from(`0\r\n${f.trailer}\r\n`));
      else incomplete = true;
      payload = Buffer.concat(parts);
      break;
    }
  }
  head.push(Buffer.from(eol));
  let bytes = Buffer.concat([...head, payload]);
  if (c.pipeline) bytes = Buffer.concat([bytes, Buffer.from('GET /health HTTP/1.1\r\nhost: x\r\n\r\n')]);
  if (c.keep !== undefined) {
    bytes = bytes.subarray(0, Math.floor(bytes.length * c.keep));
    incomplete = true;
  }
  return { bytes, incomplete };
}

/** Splits `bytes` into `count` pieces at evenly spread offsets. */
function split(bytes: Buffer, count: number): Buffer[] {
  if (count <= 1 || bytes.length < count) return [bytes];
  const pieces: Buffer[] = [];
  for (let i = 0; i < count; i++) pieces.push(bytes.subarray(Math.floor((i * bytes.length) / count), Math.floor(((i + 1) * bytes.length) / count)));
  return pieces;
}

function describeRaw(bytes: Buffer): string {
  const text = bytes.toString('latin1');
  return text.length > 600 ? `${JSON.stringify(text.slice(0, 600))}... (${text.length} bytes)` : JSON.stringify(text);
}

/**
 * Sends a raw case and checks every answer. A deliberately incomplete request is ended with a
 * half-close (or, with `waitForTimeout`, left open until the server's own deadline); a server may
 * drop a connection the client half-closed, but anything it does send must be whole and valid.
 */
async function rawExchange(c: RawCase, options: RawOptions = {}): Promise<void> {
  const { bytes, incomplete } = rawBytes(c);
  const sentBody = bodyBytes(c.body);
  fc.pre(!carriesSimFault(sentBody, Buffer.from(c.target).toString('latin1')));
  const halfClose = incomplete && !options.waitForTimeout;
  try {
    await rawExchangeBytes(c, bytes, sentBody, halfClose, options);
  } catch (err) {
    if (DUMP_FILE) writeFileSync(DUMP_FILE, bytes);
    throw err;
  }
}

interface RawOptions {
  /** Leave an incomplete request open (for the server's slow-client deadline) instead of half-closing. */
  waitForTimeout?: boolean;
  /**
   * Also require an answer when the server reset the connection while the client may still have
   * been sending (more than one write, or more than a socket read's worth of bytes).
   */
  answerDespiteReset?: boolean;
}

/** Node reads a socket 64 KiB at a time: past that, a request may still be arriving when it is refused. */
const ONE_READ_BYTES = 64 * 1024;

async function rawExchangeBytes(c: RawCase, bytes: Buffer, sentBody: Buffer | undefined, halfClose: boolean, options: RawOptions): Promise<void> {
  const methods = c.pipeline ? [c.method, 'GET'] : [c.method];
  const repro = `\n  request: ${describeRaw(bytes)}${halfClose ? ' (then half-closed)' : ''}${c.pieces > 1 ? ` (in ${c.pieces} writes)` : ''}`;
  let result: RawOutcome;
  try {
    result = await sendRaw(split(bytes, c.pieces), methods, halfClose);
  } catch (err) {
    throw new Error(`${(err as Error).message}${repro}`);
  }
  if (result.timedOut && result.answers.length === 0) throw new Error(`no answer within ${ANSWER_TIMEOUT_MS} ms${repro}`);
  const stillSending = c.pieces > 1 || bytes.length > ONE_READ_BYTES;
  if (result.answers.length === 0 && result.reset && stillSending && !options.answerDespiteReset) {
    // An answer lost to a reset while the request was still arriving: asserted on its own below.
    return;
  }
  if (!halfClose && result.answers.length === 0) {
    throw new Error(`the connection closed without an answer${result.rest.length ? ` (partial: ${describeRaw(result.rest)})` : ''}${repro}`);
  }
  if (result.answers.length === 0 && result.rest.length > 0) throw new Error(`a partial answer: ${describeRaw(result.rest)}${repro}`);
  const sent: Sent = {
    method: c.method,
    path: Buffer.from(c.target).toString('latin1'),
    headers: c.headers.map(([name, value]) => [name, Buffer.from(value).toString('latin1')]),
    body: sentBody,
    raw: true,
  };
  for (const [i, answer] of result.answers.entries()) {
    try {
      checkAnswer(i === 0 ? sent : { method: 'GET', path: '/health', headers: [], body: undefined, raw: true }, answer);
    } catch (err) {
      throw new Error(`${(err as Error).message.split('\n  request:')[0]}${repro}\n  answer: ${describeAnswer(answer)}`);
    }
  }
}

const utf8 = (s: string) => new Uint8Array(Buffer.from(s, 'utf8'));
const latin1 = (s: string) => new Uint8Array(Buffer.from(s, 'latin1'));

const rawHeaderValue = fc.oneof(
  { weight: 4, arbitrary: printable.map((s): string | Uint8Array => s) },
  {
    weight: 2,
    arbitrary: fc.constantFrom<string | Uint8Array>(
      utf8('fïrewörks'), utf8('日本語'), utf8('😀'), latin1('caf\xe9'), latin1('\x80\xff'), 'a\x01b', 'a\x7fb',
      '\t tabbed \t', '', 'a\x00b',
    ),
  },
  { weight: 1, arbitrary: fc.string({ unit: 'binary', maxLength: 10 }).map(utf8) },
);
const rawHeaders = fc
  .tuple(
    fc.record({
      host: fc.constant<string | Uint8Array | undefined>('x'),
      'content-type': fc.oneof({ weight: 8, arbitrary: fc.constant<string | Uint8Array | undefined>('application/json') }, { weight: 1, arbitrary: rawHeaderValue }),
      authorization: fc.oneof(
        { weight: 8, arbitrary: fc.constant<string | Uint8Array | undefined>(`Bearer ${KEY}`) },
        { weight: 1, arbitrary: rawHeaderValue.map((v) => (typeof v === 'string' ? `Bearer ${v}` : v)) },
      ),
      'x-provider': fc.oneof(
        { weight: 4, arbitrary: fc.constant<string | Uint8Array | undefined>(undefined) },
        { weight: 2, arbitrary: fc.constant<string | Uint8Array | undefined>('fireworks') },
        { weight: 2, arbitrary: rawHeaderValue },
      ),
      'x-request-id': fc.oneof({ weight: 4, arbitrary: fc.constant<string | Uint8Array | undefined>(undefined) }, { weight: 1, arbitrary: rawHeaderValue }),
      'x-gateway-max-retries': fc.oneof({ weight: 6, arbitrary: fc.constant<string | Uint8Array | undefined>(undefined) }, { weight: 1, arbitrary: rawHeaderValue }),
      connection: fc.constantFrom<string | Uint8Array | undefined>(undefined, undefined, 'keep-alive', 'close', 'Keep-Alive, Upgrade', 'te'),
    }),
    fc.array(fc.tuple(fc.oneof(extraHeaderName, token), rawHeaderValue), { maxLength: 3 }),
  )
  .map(([named, extras]) => {
    const list: [string, string | Uint8Array][] = [];
    for (const [name, value] of Object.entries(named)) if (value !== undefined) list.push([name, value]);
    return list.concat(extras);
  });

const chunkedFraming = fc.record({
  kind: fc.constant<'chunked'>('chunked'),
  sizes: fc.array(fc.oneof(fc.integer({ min: 1, max: 16 }), fc.integer({ min: 1, max: 5_000 })), { minLength: 1, maxLength: 8 }),
  upper: fc.boolean(),
  zeros: fc.oneof({ weight: 4, arbitrary: fc.constant(0) }, { weight: 1, arbitrary: fc.integer({ min: 1, max: 20 }) }),
  extension: fc.constantFrom('', '', ';a=b', ';x', ';a="quoted"', ' ;a', '; a = b'),
  trailer: fc.constantFrom('', '', 'x-trailer: 1\r\n', 'content-length: 5\r\n'),
  terminated: fc.oneof({ weight: 12, arbitrary: fc.constant(true) }, { weight: 1, arbitrary: fc.constant(false) }),
});
const framing: fc.Arbitrary<Framing> = fc.oneof(
  { weight: 12, arbitrary: fc.constant<Framing>({ kind: 'length' }) },
  { weight: 4, arbitrary: chunkedFraming },
  { weight: 1, arbitrary: fc.constant<Framing>({ kind: 'none' }) },
  { weight: 2, arbitrary: fc.integer({ min: -20, max: 20 }).filter((by) => by !== 0).map((by): Framing => ({ kind: 'length-off', by })) },
  {
    weight: 1,
    arbitrary: fc
      .constantFrom('-1', 'abc', '1e2', ' 5', '0x10', '99999999999999999999', '', '+5', '5, 5', '5 5')
      .map((value): Framing => ({ kind: 'length-text', value })),
  },
  { weight: 1, arbitrary: fc.integer({ min: 0, max: 50 }).map((second): Framing => ({ kind: 'length-twice', second })) },
  { weight: 1, arbitrary: fc.constant<Framing>({ kind: 'both' }) },
);

/** Well-formed HTTP/1.1 with odd content: non-ASCII header values, framings, pipelining, split writes. */
const wellFormedRaw: fc.Arbitrary<RawCase> = fc.record<RawCase>({
  method: fc.oneof({ weight: 6, arbitrary: fc.constant('POST') }, { weight: 2, arbitrary: fc.constantFrom('GET', 'PUT', 'DELETE', 'PATCH', 'OPTIONS', 'HEAD') }),
  target: fc.tuple(fc.oneof({ weight: 3, arbitrary: jsonRoute }, { weight: 2, arbitrary: routePath }), query).map(([p, q]): string | Uint8Array => p + q),
  version: fc.constant('HTTP/1.1'),
  headers: rawHeaders,
  rawLines: fc.constant<string[]>([]),
  body: fc.oneof({ weight: 6, arbitrary: jsonBody }, { weight: 1, arbitrary: deepBody(modelName).filter((b) => b.kind === 'deep' && b.deep.depth < 2_000) }),
  framing,
  eol: fc.constant<'\r\n'>('\r\n'),
  pieces: fc.oneof({ weight: 4, arbitrary: fc.constant(1) }, { weight: 1, arbitrary: fc.integer({ min: 2, max: 6 }) }),
  pipeline: fc.oneof({ weight: 4, arbitrary: fc.constant(false) }, { weight: 1, arbitrary: fc.constant(true) }),
}).chain((c) =>
  // Now and then, a request cut short (then half-closed).
  fc.oneof({ weight: 12, arbitrary: fc.constant(c) }, { weight: 1, arbitrary: fc.double({ min: 0, max: 0.999, noNaN: true }).map((keep) => ({ ...c, keep })) }),
);

/** Requests cut short, to be left open until the server's slow-client deadline. */
const incompleteRaw: fc.Arbitrary<RawCase> = fc
  .tuple(wellFormedRaw, fc.constantFrom('cut', 'length', 'chunked'), fc.integer({ min: 1, max: 1_000 }), fc.double({ min: 0, max: 0.999, noNaN: true }))
  .map(([c, how, by, keep]): RawCase => {
    const whole = { ...c, pipeline: false, keep: undefined };
    if (how === 'cut') return { ...whole, keep };
    if (how === 'length') return { ...whole, framing: { kind: 'length-off', by } };
    return { ...whole, framing: { kind: 'chunked', sizes: [by], upper: false, zeros: 0, extension: '', trailer: '', terminated: false } };
  });

/** Requests the server refuses (malformed framing, over MAX_BODY_BYTES) while much of the body is still to come. */
const refusedWhileSending: fc.Arbitrary<RawCase> = fc
  .tuple(
    fc.constantFrom('chunk-extension', 'chunk-size', 'length-text', 'over-limit-declared', 'over-limit-chunked'),
    fc.integer({ min: 70_000, max: 600_000 }),
    fc.integer({ min: 1, max: 6 }),
    fc.constantFrom('/v1/chat/completions', '/v1/rerank'),
  )
  .map(([how, size, pieces, path]): RawCase => {
    const small = Math.min(size, MAX_BODY_BYTES - 1_000);
    const chunked = (extension: string, upper: boolean): Framing => ({ kind: 'chunked', sizes: [1_000], upper, zeros: 0, extension, trailer: '', terminated: true });
    const framings: Record<typeof how, [Framing, number]> = {
      'chunk-extension': [chunked(' ;a', false), small],
      // "3e8 x": a chunk size with junk after it.
      'chunk-size': [chunked(' x', false), small],
      'length-text': [{ kind: 'length-text', value: 'abc' }, small],
      'over-limit-declared': [{ kind: 'length' }, MAX_BODY_BYTES + size],
      'over-limit-chunked': [chunked('', false), MAX_BODY_BYTES + size],
    };
    const [framing, length] = framings[how];
    return {
      method: 'POST',
      target: path,
      version: 'HTTP/1.1',
      headers: [
        ['host', 'x'],
        ['content-type', 'application/json'],
        ['authorization', `Bearer ${KEY}`],
      ],
      rawLines: [],
      body: { kind: 'json', value: { model: MODEL, messages: [{ role: 'user', content: new Big('a', length) }] } },
      framing,
      eol: '\r\n',
      pieces,
      pipeline: false,
    };
  });

/** Broken HTTP: request lines, header syntax, line endings. */
const malformedRaw: fc.Arbitrary<RawCase> = fc.record({
  method: fc.oneof(
    { weight: 4, arbitrary: fc.constantFrom('GET', 'POST') },
    { weight: 2, arbitrary: fc.constantFrom('get', 'GARBAGE', 'G ET', '', 'POST\t', 'PRI', 'PROPFIND', 'TRACE', 'QUERY', 'M-SEARCH') },
    { weight: 1, arbitrary: token },
  ),
  target: fc.oneof(
    { weight: 3, arbitrary: fc.tuple(routePath, query).map(([p, q]): string | Uint8Array => p + q) },
    {
      weight: 2,
      arbitrary: fc.constantFrom<string | Uint8Array>(
        '*',
        'http://x/v1/models',
        'https://user:pass@x:1/v1/models?a',
        'x:443',
        '',
        '/v1/mo dels',
        '/v1/mo\tdels',
        '/v1/mo\x01dels',
        '/v1/mo\x7fdels',
        utf8('/v1/módels'),
        utf8('/v1/chat/completions/😀'),
        latin1('/v1/\xff'),
        '/v1/models#frag',
        '\\v1\\models',
        'v1/models',
      ),
    },
  ),
  version: fc.oneof(
    { weight: 4, arbitrary: fc.constant('HTTP/1.1') },
    { weight: 2, arbitrary: fc.constantFrom('HTTP/1.0', 'HTTP/2.0', 'HTTP/1.2', 'HTTP/0.9', 'http/1.1', 'HTTP/1.1 x', 'HTTP/11', 'HTTP/1.1\r', '') },
  ),
  headers: rawHeaders,
  rawLines: fc.array(
    fc.constantFrom(
      'x-folded: a\r\n continued', 'no-colon', ': no-name', 'x-space : value', 'x y: z', 'x-\x01: y',
      'x-nul: a\x00b', ' leading-space: x', 'x-bare-cr: a\rb', `x-${'h'.repeat(300)}: ${'v'.repeat(300)}`,
      'content-length: 0', 'transfer-encoding: gzip, chunked', 'transfer-encoding: chunked, gzip',
      'transfer-encoding: identity', 'host: y',
    ),
    { maxLength: 2 },
  ),
  body: jsonBody,
  framing,
  eol: fc.oneof({ weight: 5, arbitrary: fc.constant<'\r\n'>('\r\n') }, { weight: 1, arbitrary: fc.constant<'\n'>('\n') }),
  pieces: fc.oneof({ weight: 4, arbitrary: fc.constant(1) }, { weight: 1, arbitrary: fc.integer({ min: 2, max: 6 }) }),
  pipeline: fc.boolean(),
});

/** Corners of the protocol the HTTP layer answers by itself: Host, Expect, CONNECT, upgrades, huge heads. */
const CORNERS = [
  'no-host', 'two-hosts', 'expect-continue', 'expect-other', 'connect', 'upgrade', 'http10', 'many-headers',
  'huge-header', 'huge-line',
] as const;
type Corner = (typeof CORNERS)[number];

const protocolCorner = (corner: Corner): fc.Arbitrary<RawCase> =>
  fc
  .tuple(
    fc.constant(corner),
    fc.constantFrom('/v1/chat/completions', '/v1/models', '/v1/rerank', '/health', '/nope'),
    fc.constantFrom('GET', 'POST'),
    rawHeaderValue,
  )
  .map(([corner, path, method, value]): RawCase => {
    const base: RawCase = {
      method,
      target: path,
      version: 'HTTP/1.1',
      headers: [
        ['host', 'x'],
        ['content-type', 'application/json'],
        ['authorization', `Bearer ${KEY}`],
      ],
      rawLines: [],
      body: { kind: 'json', value: { model: MODEL, messages: [{ role: 'user', content: 'hi' }] } },
      framing: { kind: 'length' },
      eol: '\r\n',
      pieces: 1,
      pipeline: false,
    };
    switch (corner) {
      case 'no-host':
        return { ...base, headers: base.headers.slice(1) };
      case 'two-hosts':
        return { ...base, rawLines: ['host: y'] };
      case 'expect-continue':
        return { ...base, method: 'POST', rawLines: ['expect: 100-continue'] };
      case 'expect-other':
        return { ...base, method: 'POST', headers: [...base.headers, ['expect', value]] };
      case 'connect':
        return { ...base, method: 'CONNECT', target: 'x:443', framing: { kind: 'none' }, body: { kind: 'none' } };
      case 'upgrade':
        return { ...base, rawLines: ['connection: upgrade', 'upgrade: websocket'] };
      case 'http10':
        return { ...base, version: 'HTTP/1.0', headers: base.headers.slice(1) };
      case 'many-headers':
        return { ...base, rawLines: Array.from({ length: 3_000 }, (_, i) => `x-h${i}: v`) };
      case 'huge-header':
        return { ...base, headers: [...base.headers, ['x-provider', 'f'.repeat(20_000)]] };
      default:
        return { ...base, target: `${path}?q=${'a'.repeat(20_000)}` };
    }
  });

/** The client's key where it does not belong: in other headers, the path, the query. */
const misplacedKey: fc.Arbitrary<Sent> = fc
  .tuple(
    fc.constantFrom('x-provider', 'content-type', 'route', 'forwarded', 'query', 'x-gateway-max-retries', 'x-request-id', 'method-path'),
    fc.constantFrom(KEY, `Bearer ${KEY}`, `key=${KEY}`, `x${KEY}x`),
  )
  .map(([where, value]): Sent => {
    const body = Buffer.from(JSON.stringify({ model: MODEL, messages: [{ role: 'user', content: 'hi' }] }));
    const headers: [string, string][] = [
      ['authorization', `Bearer ${KEY}`],
      ['content-type', where === 'content-type' ? `text/${value}` : 'application/json'],
    ];
    const segment = encodeURIComponent(value);
    switch (where) {
      case 'route':
        return { method: 'POST', path: `/${segment}`, headers, body };
      case 'forwarded':
        return { method: 'POST', path: `/v1/${segment}`, headers, body };
      case 'method-path':
        return { method: 'PUT', path: `/v1/chat/completions`, headers, body };
      case 'query':
        return { method: 'POST', path: `/v1/chat/completions?${segment}`, headers, body };
      case 'content-type':
        return { method: 'POST', path: '/v1/chat/completions', headers, body };
      default:
        return { method: 'POST', path: '/v1/chat/completions', headers: [...headers, [where, value]], body };
    }
  });

interface LeavingCase {
  request: RawCase;
  /** Leave after this many bytes of the request were written (null: all), */
  afterRequestBytes: number | null;
  /** ...or after this many bytes of the answer arrived (null: at once). */
  afterAnswerBytes: number | null;
  /** Half-close instead of destroying the socket. */
  halfClose: boolean;
}

const leavingClient: fc.Arbitrary<LeavingCase> = fc.record({
  request: fc
    .tuple(
      fc.constantFrom('/v1/chat/completions', '/v1/completions', '/v1/embeddings'),
      fc.boolean(),
      fc.integer({ min: 1, max: 40 }),
      fc.oneof(fc.constant(''), text),
    )
    .map(([path, stream, n, text]): RawCase => ({
      method: 'POST',
      target: path,
      version: 'HTTP/1.1',
      headers: [
        ['host', 'x'],
        ['content-type', 'application/json'],
        ['authorization', `Bearer ${KEY}`],
        // So that a client waiting for more of the answer than there is sees the end of it.
        ['connection', 'close'],
      ],
      rawLines: [],
      body: { kind: 'json', value: { model: MODEL, messages: [{ role: 'user', content: text }], prompt: text, input: text, stream, n } },
      framing: { kind: 'length' },
      eol: '\r\n',
      pieces: 1,
      pipeline: false,
    })),
  afterRequestBytes: fc.option(fc.nat(2_000), { freq: 3 }),
  afterAnswerBytes: fc.option(fc.nat(3_000)),
  halfClose: fc.boolean(),
});

/** Sends a request and leaves: part way through the request, at once, or part way through the answer. */
function leaveEarly(c: LeavingCase): Promise<void> {
  const { bytes } = rawBytes(c.request);
  fc.pre(!carriesSimFault(bodyBytes(c.request.body), '/'));
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    let received = 0;
    const leave = () => {
      if (c.halfClose) socket.end();
      else socket.destroy();
      resolve();
    };
    socket.on('error', () => resolve());
    socket.on('close', () => resolve());
    socket.on('connect', () => {
      if (c.afterRequestBytes !== null && c.afterRequestBytes < bytes.length) {
        socket.write(bytes.subarray(0, c.afterRequestBytes), leave);
        return;
      }
      socket.write(bytes);
      if (c.afterAnswerBytes === null) leave();
    });
    socket.on('data', (chunk: Buffer) => {
      received += chunk.length;
      if (c.afterAnswerBytes !== null && received >= c.afterAnswerBytes) leave();
    });
    // A half-closed socket stays until the server closes it; do not wait for that.
    setTimeout(() => {
      socket.destroy();
      resolve();
    }, ANSWER_TIMEOUT_MS).unref();
  });
}

// ---------------------------------------------------------------------------------------------
// The runner

let totalCases = 0;

/**
 * Runs one property for its share of FUZZ_TIME_MS and reports the seed and the number of cases;
 * on failure, throws fast-check's report (seed, path, counterexample) with the error it caught.
 */
async function fuzz<T>(
  t: TestContext,
  share: number,
  arbitrary: fc.Arbitrary<T>,
  predicate: (value: T) => Promise<void>,
  options: { minMs?: number } = {},
) {
  let calls = 0;
  // At least one case must finish in time: fast-check counts a run interrupted before any as failed.
  const limit = Math.max(options.minMs ?? 200, Math.round(TIME_MS * share));
  const startedAt = Date.now();
  const details = await fc.check(
    fc.asyncProperty(arbitrary, async (value) => {
      // The simulator records every request; forget them, or a long run holds every body.
      if (++calls % 100 === 0) stack.sim.clear();
      await predicate(value);
    }),
    {
      seed: SEED,
      numRuns: RUNS,
      interruptAfterTimeLimit: limit,
      markInterruptAsFailure: false,
      timeout: ANSWER_TIMEOUT_MS * 2,
      maxSkipsPerRun: 1_000,
      ...(REPLAY_PATH ? { path: REPLAY_PATH, endOnFailure: true } : {}),
    },
  );
  totalCases += details.numRuns;
  t.diagnostic(
    `FUZZ_SEED=${SEED}: ${details.numRuns} cases in ${Date.now() - startedAt} ms (budget ${limit} ms), ` +
      `${details.numSkips} skipped, ${details.numShrinks} shrinks, ${calls} calls in all`,
  );
  if (details.failed) {
    const cause = details.errorInstance instanceof Error ? details.errorInstance.message : String(details.errorInstance ?? '');
    throw new Error(`${fc.defaultReportMessage(details) ?? 'property failed'}\nGot: ${cause}`);
  }
}

/**
 * Known bugs (of the gateway, or of the simulator under it), each failing one property below; the property stays as it should be and is
 * marked todo until src/ is fixed (then delete the entry).
 */
describe('fuzz: every answer is prompt, well-formed and leaks nothing', () => {
  test('JSON routes: generated bodies and headers (undici)', async (t) => {
    await fuzz(
      t,
      0.26,
      fc.tuple(fc.constantFrom('POST', 'POST', 'POST', 'PUT'), jsonRoute, query, headerList, jsonBody),
      async ([method, path, q, headers, body]) => exchange(toSent(method, path + q, headers, body)),
    );
  });

  const deepHeaders: HeaderList = [
    ['content-type', 'application/json'],
    ['authorization', `Bearer ${KEY}`],
  ];
  test('JSON nested up to 10,000 levels, sent on as it is (undici)', async (t) => {
    await fuzz(t, 0.05, fc.tuple(jsonRoute, deepBody(modelSentAsIs)), ([path, body]) => {
      // Deep embedding inputs break the simulator (asserted on their own below).
      fc.pre(!(path === '/v1/embeddings' && body.kind === 'deep' && body.field === 'input'));
      return exchange(toSent('POST', path, deepHeaders, body));
    });
  });

  test('embeddings with an input nested up to 10,000 levels (undici)', async (t) => {
    const body = deepBody(modelSentAsIs).map((b): BodySpec => (b.kind === 'deep' ? { ...b, field: 'input' } : b));
    await fuzz(t, 0.01, body, (b) => exchange(toSent('POST', '/v1/embeddings', deepHeaders, b)));
  });

  test('JSON nested up to 10,000 levels, with a model name the gateway rewrites (undici)', async (t) => {
    await fuzz(t, 0.02, fc.tuple(jsonRoute, deepBody(modelRewritten)), ([path, body]) => exchange(toSent('POST', path, deepHeaders, body)));
  });

  test('every route and method, odd paths (undici)', async (t) => {
    await fuzz(
      t,
      0.15,
      fc.tuple(
        fc.constantFrom('GET', 'POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS', 'HEAD', 'TRACE', 'PROPFIND', 'QUERY'),
        routePath,
        query,
        headerList,
        fc.oneof({ weight: 3, arbitrary: fc.constant<BodySpec>({ kind: 'none' }) }, { weight: 2, arbitrary: jsonBody }),
      ),
      async ([method, path, q, headers, body]) => exchange(toSent(method, path + q, headers, body)),
    );
  });

  test('provider errors {"sim":{"status":400-599}} keep their status (undici)', async (t) => {
    await fuzz(
      t,
      0.06,
      fc.tuple(
        fc.integer({ min: 400, max: 599 }),
        fc.constantFrom('/v1/chat/completions', '/v1/completions', '/v1/embeddings', '/v1/models'),
        fc.constantFrom('0', '0', '0', '1', undefined),
      ),
      async ([status, path, retries]) => {
        const fault = JSON.stringify({ status });
        const headers: [string, string][] = [['authorization', `Bearer ${KEY}`], ['x-provider', 'fireworks']];
        if (retries !== undefined) headers.push(['x-gateway-max-retries', retries]);
        const sent: Sent =
          path === '/v1/models'
            ? { method: 'GET', path: `${path}?sim=${encodeURIComponent(fault)}`, headers, body: undefined }
            : {
                method: 'POST',
                path,
                headers: [...headers, ['content-type', 'application/json']],
                body: Buffer.from(`{"model":"${MODEL}","messages":[{"role":"user","content":"hi"}],"prompt":"hi","input":"hi","sim":${fault}}`),
              };
        checkAnswer(sent, await sendUndici(sent), { allowServerErrors: true, expectStatus: status });
      },
    );
  });

  test('well-formed HTTP with odd headers, framings and pipelining (raw TCP)', async (t) => {
    await fuzz(t, 0.15, wellFormedRaw, (c) => rawExchange(c));
  });

  test('malformed HTTP (raw TCP)', async (t) => {
    await fuzz(t, 0.09, malformedRaw, (c) => rawExchange(c));
  });

  for (const corner of CORNERS) {
    test(`protocol corner: ${corner} (raw TCP)`, async (t) => {
      await fuzz(t, 0.005, protocolCorner(corner), (c) => rawExchange(c));
    });
  }

  test('incomplete requests left open are answered in time (raw TCP)', async (t) => {
    // Each case waits for the server's slow-client deadline (0.5-1 s), so four wait side by side.
    await fuzz(
      t,
      0.08,
      fc.array(incompleteRaw, { minLength: 4, maxLength: 4 }),
      async (cases) => {
        await Promise.all(cases.map((c) => rawExchange(c, { waitForTimeout: true })));
      },
      { minMs: 2_000 },
    );
  });

  test('a request refused while its body is still arriving gets its answer (raw TCP)', async (t) => {
    await fuzz(t, 0.02, refusedWhileSending, (c) => rawExchange(c, { answerDespiteReset: true }));
  });

  test("a provider's 405 keeps its Allow header (undici)", async (t) => {
    await fuzz(
      t,
      0.01,
      fc.tuple(fc.constantFrom('POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS'), fc.constantFrom('deepseek-v3', encodeURIComponent(MODEL), 'x')),
      async ([method, id]) => {
        const sent: Sent = { method, path: `/v1/models/${id}`, headers: [['authorization', `Bearer ${KEY}`]], body: undefined };
        checkAnswer(sent, await sendUndici(sent), { expectStatus: 405, anyAllow: true });
      },
    );
  });

  test('a key put where no key belongs is not echoed in an answer (undici)', async (t) => {
    await fuzz(t, 0.01, misplacedKey, (sent) => exchange(sent));
  });

  test('clients that leave at any point do not hurt the gateway (raw TCP)', async (t) => {
    await fuzz(t, 0.04, leavingClient, async (c) => {
      await leaveEarly(c);
      const res = await pool.request({ method: 'GET', path: '/health', headersTimeout: ANSWER_TIMEOUT_MS, bodyTimeout: ANSWER_TIMEOUT_MS });
      assert.equal(res.statusCode, 200);
      await res.body.dump();
    });
  });

  test('the gateway still serves afterwards, and holds no connection it should not', async (t) => {
    t.diagnostic(`FUZZ_SEED=${SEED} FUZZ_TIME_MS=${TIME_MS}: ${totalCases} cases in all`);
    // Every raw connection was closed by the client; only the pool's (at most 2) may stay open.
    const connections = () => new Promise<number>((resolve, reject) => stack.gateway.server.getConnections((err, n) => (err ? reject(err) : resolve(n))));
    const deadline = Date.now() + 5_000;
    while ((await connections()) > 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    assert.ok((await connections()) <= 2, `${await connections()} connections still open`);
    const res = await pool.request({ method: 'GET', path: '/health' });
    assert.equal(res.statusCode, 200);
    assert.equal((JSON.parse(await res.body.text()) as { status: string }).status, 'ok');
    const completion = await stack.client().chat.completions.create({ model: MODEL, messages: [{ role: 'user', content: 'still alive' }] });
    assert.equal(completion.object, 'chat.completion');
  });
});
