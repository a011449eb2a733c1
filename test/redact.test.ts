// Credentials in provider messages and stacks are redacted by context, shape and value, keeping the
// scheme or name in front; prose stays as it is; every rule is needed; adversarial text stays cheap.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { createLogger } from '../src/logger.js';
import {
  redactedLogPaths,
  redactionRuleNames,
  redactSecrets,
  redactSecretsWithout,
  configuredSecrets,
  redactCredentials,
  safeEcho,
  urlSecrets,
} from '../src/redact.js';

const R = '[REDACTED]';
// Made-up keys, built so that no file holds a key-shaped literal.
const mixed = (n: number) => 'aB3xY9kQ'.repeat(Math.ceil(n / 8)).slice(0, n);
const hex = (n: number) => '0123456789abcdef'.repeat(Math.ceil(n / 16)).slice(0, n);
const AWS_SECRET = `wJalrXUtnFEMI/K7MDENG/bPxRfiCY${'EXAMPLEKEY'}`;
const AWS_KEY_ID = `AKIA${'IOSFODNN7EXAMPLE'}`;
const JWT = `eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.${'dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk'}`;

/** [what a provider or stack may say, what may be logged or shown]. */
const REDACTED: readonly (readonly [string, string])[] = [
  // Authorization schemes, in prose.
  ['upstream said: Basic dXNlcjpwYXNz is not accepted', `upstream said: Basic ${R} is not accepted`],
  ['Token abc123def456ghi is invalid', `Token ${R} is invalid`],
  ['invalid token 7f3a9c2e1b5d', `invalid token ${R}`],
  ['ApiKey Zm9vYmFyYmF6cXV4 rejected', `ApiKey ${R} rejected`],
  ['Negotiate YIIGhgYJKoZIhvcSAQICAQBuggZ1', `Negotiate ${R}`],
  ['bad key fw_ABCDEF1234567890 in Bearer abc.def', `bad key ${R} in Bearer ${R}`],
  ['Bearer secretvalue', `Bearer ${R}`],
  ['Digest username="admin", realm="api", nonce="dcd98b7102dd2f0e", response="6629fae49393a053"', `Digest ${R}`],
  [
    `AWS4-HMAC-SHA256 Credential=${AWS_KEY_ID}/20240101/us-east-1/bedrock/aws4_request, SignedHeaders=host, Signature=${hex(64)}`,
    `AWS4-HMAC-SHA256 ${R}`,
  ],
  ['OAuth oauth_consumer_key="app", oauth_signature="c2lnbmF0dXJl"', `OAuth ${R}`],
  // Headers echoed in text, to the end of the line or the closing quote.
  ['Authorization: Basic dXNlcjpwYXNz', `Authorization: Basic ${R}`],
  ['sent Authorization: Custom s3cr3t value\nnext line', `sent Authorization: ${R}\nnext line`],
  ['Proxy-Authorization: Basic dXNlcjpwYXNz', `Proxy-Authorization: Basic ${R}`],
  ['{"headers":{"authorization":"Basic dXNlcjpwYXNz","accept":"*/*"}}', `{"headers":{"authorization":"Basic ${R}","accept":"*/*"}}`],
  ['{"authorization": "Digest username=\\"a\\", response=\\"b\\""}', `{"authorization": "Digest ${R}"}`],
  ['Cookie: session=abc123; theme=dark', `Cookie: ${R}`],
  ['x-api-key: SECRET', `x-api-key: ${R}`],
  ['api-key: SECRET', `api-key: ${R}`],
  ['x-goog-api-key: SECRET', `x-goog-api-key: ${R}`],
  ['missing anthropic-version; got x-api-key: my-anthropic-key', `missing anthropic-version; got x-api-key: ${R}`],
  ['X-Amz-Security-Token: FwoGZXIvYXdzEBYaDH', `X-Amz-Security-Token: ${R}`],
  ['x-aws-secret-access-key: SECRET', `x-aws-secret-access-key: ${R}`],
  // JSON, Python and env echoes.
  ['{"api_key": "SECRET", "model": "m"}', `{"api_key": "${R}", "model": "m"}`],
  ['{"apiKey":"SECRET"}', `{"apiKey":"${R}"}`],
  ['{"password":"hunter 2","user":"bob"}', `{"password":"${R}","user":"bob"}`],
  ['{"password":"a\\"b c"}', `{"password":"${R}"}`],
  ['{"secret":"s"}', `{"secret":"${R}"}`],
  ['{"access_token":"opaque-token"}', `{"access_token":"${R}"}`],
  ['{"client_secret":"opaque"}', `{"client_secret":"${R}"}`],
  ["{'api_key': 'SECRET'}", `{'api_key': '${R}'}`],
  ['{:api_key => "SECRET"}', `{:api_key => "${R}"}`],
  ['body: "{\\"api_key\\": \\"SECRET\\", \\"model\\": \\"m\\"}"', `body: "{\\"api_key\\": \\"${R}\\", \\"model\\": \\"m\\"}"`],
  ['FIREWORKS_API_KEY=SECRET', `FIREWORKS_API_KEY=${R}`],
  [`aws_secret_access_key = ${AWS_SECRET}`, `aws_secret_access_key = ${R}`],
  [`{"SecretAccessKey":"${AWS_SECRET}"}`, `{"SecretAccessKey":"${R}"}`],
  [`<SecretAccessKey>${AWS_SECRET}</SecretAccessKey>`, `<SecretAccessKey>${R}</SecretAccessKey>`],
  ['<SessionToken>FwoGZXIvYXdzEBYaDH</SessionToken>', `<SessionToken>${R}</SessionToken>`],
  // Query strings, path parameters, URL-encoded.
  ['GET https://api.example.com/v1/models?api_key=SECRET&limit=5', `GET https://api.example.com/v1/models?api_key=${R}&limit=5`],
  ['/v1beta/models?alt=sse&key=SECRET', `/v1beta/models?alt=sse&key=${R}`],
  ['/v1/models;api_key=SECRET/chat', `/v1/models;api_key=${R}`],
  ['next=%2Fv1%3Fapi_key%3DSECRET%2Fx%26model%3Dm', `next=%2Fv1%3Fapi_key%3D${R}%26model%3Dm`],
  ['next=%2Fv1%3Falt%3Djson%26key%3DSECRET', `next=%2Fv1%3Falt%3Djson%26key%3D${R}`],
  ['?access_token=SECRET', `?access_token=${R}`],
  ['&token=SECRET', `&token=${R}`],
  ['&apikey=SECRET', `&apikey=${R}`],
  ['&api-key=SECRET', `&api-key=${R}`],
  ['&x-api-key=SECRET', `&x-api-key=${R}`],
  ['&secret=SECRET', `&secret=${R}`],
  ['&password=SECRET', `&password=${R}`],
  ['?sv=2024&sig=c2lnbmF0dXJl%3D&se=1', `?sv=2024&sig=${R}&se=1`],
  ['&signature=SECRET', `&signature=${R}`],
  [`&X-Amz-Credential=${AWS_KEY_ID}%2F20240101%2Fus-east-1%2Fs3%2Faws4_request`, `&X-Amz-Credential=${R}`],
  ['&X-Amz-Security-Token=FwoGZXIvYXdzEBYaDH', `&X-Amz-Security-Token=${R}`],
  [`&X-Amz-Signature=${hex(64)}`, `&X-Amz-Signature=${R}`],
  ['callback?code=SECRET&state=s', `callback?code=${R}&state=s`],
  // URL userinfo.
  ['fetch https://user:pass@host.example/v1 failed', `fetch https://${R}@host.example/v1 failed`],
  ['postgres://admin:p4ss@db:5432/app', `postgres://${R}@db:5432/app`],
  // Provider key shapes.
  ['POST /v1/key%3Dfw_test_key_0123456789 not found', `POST /v1/key%3D${R} not found`],
  [`Incorrect API key provided: sk-${mixed(48)}.`, `Incorrect API key provided: ${R}.`],
  [`key sk-proj-${mixed(40)}_${mixed(20)}`, `key ${R}`],
  [`key sk-ant-api03-${mixed(80)}-${mixed(6)}AA`, `key ${R}`],
  [`key sk-or-v1-${hex(64)}`, `key ${R}`],
  [`key gsk_${mixed(52)}`, `key ${R}`],
  [`key fw-${mixed(24)}`, `key ${R}`],
  [`key xai-${mixed(80)}`, `key ${R}`],
  [`key AIzaSyD-${mixed(20)}_${mixed(10)}`, `key ${R}`],
  [`key pplx-${mixed(48)}`, `key ${R}`],
  [`key hf_${mixed(34)}`, `key ${R}`],
  [`key ${hex(64)}`, `key ${R}`],
  [`key tgp_v1_${mixed(40)}`, `key ${R}`],
  [`key ABSK${mixed(40)}+/${mixed(20)}==`, `key ${R}`],
  [`key bedrock-api-key-${mixed(60)}%3D%3D`, `key ${R}`],
  [`access key ${AWS_KEY_ID} denied`, `access key ${R} denied`],
  [`access key ASIA${'Y34FZKBOKMUTVV7A'} denied`, `access key ${R} denied`],
  [`invalid JWT ${JWT}`, `invalid JWT ${R}`],
  [`deepinfra jwt:${JWT}`, `deepinfra jwt:${R}`],
  [`key ${mixed(32)}`, `key ${R}`],
];

/** Prose, ids and parameters that only look like the above. */
const UNCHANGED: readonly string[] = [
  'Token limit exceeded',
  'Invalid token',
  'Basic usage',
  'the key is invalid',
  'max_tokens=100',
  'tokens=5',
  '?max_tokens=100&stream=true',
  'Bearer token required',
  'Send a Bearer token in the Authorization header.',
  'Basic authentication failed',
  'Token max_tokens_to_sample is not supported',
  'Token expired.',
  'Error code: 401',
  '{"error":{"message":"bad","type":"invalid_request_error","code":"invalid_api_key"}}',
  'api_key: null',
  '{"api_key": ""}',
  'Missing header: Authorization',
  'Authorization header is missing',
  'Authorization: Bearer',
  'See https://docs.example.com/auth?lang=en#keys',
  'Email user@example.com for access',
  'password must be at least 8 characters',
  'The secret to fast inference',
  'Rate limit: 100 requests per minute; retry in 2s',
  'Model accounts/fireworks/models/llama-v3p1-8b-instruct not found',
  'request req_011CN2abcdEFGH3456ijklMNOP7890xyz failed',
  'id chatcmpl-9x8Y7w6V5u4T3s2R1q0P9o8N7m6L5k4J',
  'trace 4bf92f3577b34da6a3ce929d0e0e4736',
  'uuid 123e4567-e89b-12d3-a456-426614174000',
  'Use sk-learn for that',
  'at Gateway.forward (file:///app/dist/src/gateway.js:130:17)',
];

describe('redactSecrets', () => {
  test('redacts every form, keeping the scheme or name', () => {
    for (const [input, expected] of REDACTED) assert.equal(redactSecrets(input), expected, input);
  });

  test('leaves prose, ids and other parameters as they are', () => {
    for (const input of UNCHANGED) assert.equal(redactSecrets(input), input);
  });

  test('every rule and key shape has a case that fails without it', () => {
    for (const name of redactionRuleNames) {
      const without = redactSecretsWithout(name);
      assert.ok(
        REDACTED.some(([input, expected]) => without(input) !== expected),
        `no case needs the rule ${name}`,
      );
    }
  });

  test('a gateway\'s configured secrets are redacted whatever their shape', () => {
    const secrets = configuredSecrets(['plain-configured-key', undefined, 'abc']);
    assert.deepEqual(secrets, ['plain-configured-key'], 'too short to redact by value: left to the patterns');
    assert.equal(redactCredentials('upstream: bad plain-configured-key!', [], secrets), `upstream: bad ${R}!`);
    assert.equal(redactCredentials('Bearer plain-configured-key', [], secrets), `Bearer ${R}`);
  });

  test('redacting twice changes nothing', () => {
    for (const [, expected] of REDACTED) assert.equal(redactSecrets(expected), expected);
    const punctuation = [' ', '\n', '"', "'", ':', '=', '&', '?', 'Bearer', 'Token', 'key'];
    const fragments = [...REDACTED.map(([input]) => input), ...UNCHANGED, ...punctuation];
    fc.assert(
      fc.property(fc.array(fc.oneof(fc.constantFrom(...fragments), fc.string({ maxLength: 12 })), { maxLength: 8 }), (parts) => {
        const once = redactSecrets(parts.join(''));
        assert.equal(redactSecrets(once), once);
      }),
      { numRuns: 2000, seed: 1 },
    );
  });

  test('a 1 MB adversarial input takes well under 100 ms', () => {
    const size = 1_000_000;
    const repeat = (unit: string, tail = '') => unit.repeat(Math.floor((size - tail.length) / unit.length)) + tail;
    const units = [
      'a', ' ', 'A', '0', 'aB3', 'aB3-', 'a.', 'eyJ', 'eyJa.', 'eyJa.eyJa.', 'a://', 'a:/', 'a://b@', 'https://a:b',
      'Authorization: ', 'authorization:"', 'authorization:"\\', 'Authorization: [REDACTED]\n', 'Authorization: Bearer\n',
      'api_key=', 'api_key:"\\', 'api_key:\\"', "password:'", 'x-api-key: ', '<SecretAccessKey>', 'cookie=',
      '?key=', '&key=a', '%3Fkey%3D%', '%3Fkey%3Da%26', '?key=%26', 'Digest ', 'Digest a', 'Digest a=b\n',
      'Bearer ', 'Bearer', 'Bearer token ', 'Bearer [REDACTED] ', 'Basic ', 'Basic abcdefgh ', 'Basic abcdefgh.', 'Token aB',
      'sk-', 'fw_', 'AIza', 'ABSK', 'AKIA', '\\"', '"',
    ];
    const inputs = units.flatMap((unit) => [repeat(unit), repeat(unit, '_x!')]);
    const blanks = ' '.repeat(size);
    inputs.push(`Authorization:${blanks}`, `Authorization: Bearer${blanks}x`, `https://${'a'.repeat(size)}`);
    let chars = '';
    for (let i = 0, seed = 1; i < size; i++) {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      chars += 'aA0_-.:=/?&;%"\'\\ <>[]{}@\nBeKk'[seed % 30];
    }
    inputs.push(chars);
    for (const input of inputs) {
      let best = Infinity;
      for (let round = 0; round < 3; round++) {
        const started = performance.now();
        redactSecrets(input);
        best = Math.min(best, performance.now() - started);
      }
      assert.ok(best < 100, `${JSON.stringify(input.slice(0, 24))}... took ${best.toFixed(1)} ms`);
    }
  });

  test('huge input is cut, never passed through unscanned', () => {
    const key = `sk-${mixed(40)}`;
    const out = redactSecrets(`${'word '.repeat(2_000_000)}${key}`);
    assert.ok(out.length < 300_000);
    assert.ok(!out.includes(key));
    assert.match(out, / \[\d+ more characters not shown\]$/);
    // So is text made to match a rule a hundred thousand times.
    const many = redactSecrets('&key=a'.repeat(100_000));
    assert.ok(!many.includes('key=a'));
    assert.match(many, /not shown\]$/);
  });
});

describe('safeEcho', () => {
  test('quotes short printable values', () => {
    assert.equal(safeEcho('text/plain'), '"text/plain"');
    const form = 'application/x-www-form-urlencoded; charset=utf-8';
    assert.equal(safeEcho(form), `"${form}"`);
    assert.equal(safeEcho('fireworkz'), '"fireworkz"');
    assert.equal(safeEcho('a"b\\c'), '"a\\"b\\\\c"');
    assert.equal(safeEcho(''), '""');
    assert.equal(safeEcho(['fireworks', 'openai']), '"fireworks, openai"');
    assert.equal(safeEcho('x'.repeat(64)), `"${'x'.repeat(64)}"`);
  });

  test('describes absent, long, non-printable and credential-like values', () => {
    assert.equal(safeEcho(undefined), '(none)');
    assert.equal(safeEcho('x'.repeat(65)), '(a value of 65 characters, not shown)');
    assert.equal(safeEcho('abcdef', 5), '(a value of 6 characters, not shown)');
    assert.equal(safeEcho('caf\u00e9'), '(a value of 4 characters, not shown)');
    assert.equal(safeEcho('a\tb'), '(a value of 3 characters, not shown)');
    assert.equal(safeEcho('\u0000'), '(a value of 1 character, not shown)');
    assert.equal(safeEcho('Bearer abc123'), '(a value of 13 characters, not shown)');
    assert.equal(safeEcho(`sk-proj-${mixed(20)}`), '(a value of 28 characters, not shown)');
    assert.equal(safeEcho('Basic dXNlcjpwYXNz'), '(a value of 18 characters, not shown)');
    assert.equal(safeEcho('application/json; api_key=abc'), '(a value of 29 characters, not shown)');
  });
});

describe('redactedLogPaths', () => {
  test('the logger censors the provider key headers, as headers and as req.headers', () => {
    const headers = ['authorization', 'x-api-key', 'api-key', 'x-goog-api-key'];
    headers.push('x-aws-access-key-id', 'x-aws-secret-access-key', 'x-aws-session-token');
    for (const header of headers) {
      assert.ok(redactedLogPaths.includes(header === 'authorization' ? 'headers.authorization' : `headers["${header}"]`), header);
    }
    const lines: string[] = [];
    const logger = createLogger('info', { write: (line: string) => void lines.push(line) });
    const values = Object.fromEntries(headers.map((header) => [header, `secret-${header}`]));
    logger.info({ headers: values, req: { headers: values } }, 'record');
    const record = JSON.parse(lines[0]!) as { headers: Record<string, string>; req: { headers: Record<string, string> } };
    for (const header of headers) {
      assert.equal(record.headers[header], R, header);
      assert.equal(record.req.headers[header], R, `req.headers ${header}`);
    }
  });
});

describe('urlSecrets', () => {
  test("a URL's password is a secret as written and decoded, even when a '%' in it is no escape", () => {
    assert.deepEqual(urlSecrets('redis://:p%41ss@127.0.0.1:6379'), ['redis://:p%41ss@127.0.0.1:6379', 'p%41ss', 'pAss']);
    const odd = urlSecrets('redis://:p%zzword@127.0.0.1:6379');
    assert.ok(odd.includes('p%zzword'), `the password stays a secret: ${JSON.stringify(odd)}`);
    assert.deepEqual(urlSecrets('redis://token@127.0.0.1:6379'), ['redis://token@127.0.0.1:6379', 'token', 'token']);
    assert.deepEqual(urlSecrets('not a url'), ['not a url']);
  });
});
