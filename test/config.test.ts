// Settings: bounds, defaults, every problem reported at once, CONFIG_FILE, CORS lists.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { ConfigError, MAX_TIMER_MS, defaultSettings, loadConfig, settingDescriptions, settingNames } from '../src/config.js';
import { providerSpecs } from '../src/providers/index.js';
import { redactCredentials } from '../src/redact.js';
import { startGateway } from './helpers.js';

const KNOWN_PROVIDERS = providerSpecs.map((spec) => spec.name).join(', ');

/** The problems loadConfig reports for `env`; fails when it reports none. */
function problemsOf(env: Record<string, string>): readonly string[] {
  try {
    loadConfig(env);
  } catch (err) {
    assert.ok(err instanceof ConfigError, `a ConfigError, got ${String(err)}`);
    assert.equal(err.message, err.problems.join('\n'));
    return err.problems;
  }
  assert.fail(`no problem reported for ${JSON.stringify(env)}`);
}

function configFile(content: unknown): string {
  const path = join(mkdtempSync(join(tmpdir(), 'gateway-config-')), 'gateway.json');
  writeFileSync(path, JSON.stringify(content));
  return path;
}

describe('durations', () => {
  const durations = settingNames.filter((name) => name.endsWith('_MS'));

  test('every *_MS setting is bounded by what a Node timer can hold', () => {
    assert.equal(MAX_TIMER_MS, 2147483647);
    assert.ok(durations.length >= 9);
    for (const name of durations) {
      assert.deepEqual(problemsOf({ [name]: '2147483648' }), [
        `${name}: must be at most 2147483647 ms (about 24.8 days), got "2147483648"`,
      ]);
      // (the backoff ceiling may not be below its base)
      assert.equal(loadConfig({ RETRY_MAX_DELAY_MS: '2147483647', [name]: '2147483647' })[name], 2147483647);
    }
  });

  test('REQUEST_TIMEOUT_MS=3000000000 is refused with a message naming it', () => {
    assert.deepEqual(problemsOf({ REQUEST_TIMEOUT_MS: '3000000000' }), [
      'REQUEST_TIMEOUT_MS: must be at most 2147483647 ms (about 24.8 days), got "3000000000"',
    ]);
  });

  test('a duration from CONFIG_FILE is bounded too, and the message says where it came from', () => {
    const path = configFile({ settings: { SHUTDOWN_GRACE_MS: 3_000_000_000 } });
    assert.deepEqual(problemsOf({ CONFIG_FILE: path }), [
      `${path}:1: settings.SHUTDOWN_GRACE_MS: must be at most 2147483647 ms (about 24.8 days), got 3000000000`,
    ]);
  });

  test('durations must be whole, non-blank numbers', () => {
    assert.match(problemsOf({ STREAM_IDLE_TIMEOUT_MS: '1.5' })[0]!, /^STREAM_IDLE_TIMEOUT_MS: must be a whole number/);
    assert.match(problemsOf({ STREAM_IDLE_TIMEOUT_MS: ' ' })[0]!, /^STREAM_IDLE_TIMEOUT_MS: must be a whole number/);
    assert.match(problemsOf({ REQUEST_TIMEOUT_MS: '0' })[0]!, /^REQUEST_TIMEOUT_MS: must be at least 1 ms/);
  });
});

describe('defaults', () => {
  test('the new settings and their defaults', () => {
    const config = loadConfig({});
    assert.equal(config.CLIENT_STALL_TIMEOUT_MS, 120_000);
    assert.equal(config.MAX_BUFFERED_RESPONSE_BYTES, 8 * 1024 * 1024);
    assert.deepEqual(config.CORS_ORIGINS, []);
    assert.deepEqual(config.CORS_ALLOW_METHODS, ['GET', 'POST', 'OPTIONS']);
    assert.equal(config.CORS_MAX_AGE_S, 600);
    const headers = 'authorization,content-type,x-provider,x-request-id,x-gateway-max-retries,x-gateway-timeout-ms,' +
      'x-api-key,anthropic-version,anthropic-beta,openai-organization,openai-project,x-stainless-*';
    for (const name of headers.split(',')) assert.ok(config.CORS_ALLOW_HEADERS.includes(name), name);
    assert.deepEqual(defaultSettings(), Object.fromEntries(settingNames.map((name) => [name, config[name]])));
  });

  test('the Config is frozen, lists included', () => {
    const config = loadConfig({ CORS_ORIGINS: 'https://app.example.com' });
    assert.ok(Object.isFrozen(config));
    assert.ok(Object.isFrozen(config.CORS_ORIGINS));
    assert.ok(Object.isFrozen(config.CORS_ALLOW_HEADERS));
    assert.ok(Object.isFrozen(config.providers.fireworks));
  });

  test('every setting has its row in docs/CONFIGURATION.md', () => {
    const doc = readFileSync('docs/CONFIGURATION.md', 'utf8');
    assert.deepEqual(settingNames.filter((name) => !doc.includes(`| \`${name}\` |`)), []);
  });

  test('every setting has a one-line description for --help', () => {
    for (const name of settingNames) {
      const description = settingDescriptions[name];
      assert.ok(description.length > 10 && !description.includes('\n'), name);
    }
  });
});

describe('every problem at once', () => {
  test('one ConfigError lists each problem on its own line, each naming its setting', () => {
    const problems = problemsOf({
      PORT: 'abc',
      LOG_LEVEL: 'loud',
      MAX_RETRIES: '-1',
      DEFAULT_PROVIDER: 'nosuch',
      WORKERS: 'many',
      RETRY_BASE_DELAY_MS: '500',
      RETRY_MAX_DELAY_MS: '100',
      FIREWORKS_BASE_URL: 'not a url',
      CORS_ORIGINS: 'https://app.example.com/path',
    });
    assert.deepEqual(
      problems.map((line) => line.slice(0, line.indexOf(':'))).sort(),
      ['CORS_ORIGINS', 'DEFAULT_PROVIDER', 'FIREWORKS_BASE_URL', 'LOG_LEVEL', 'MAX_RETRIES', 'PORT', 'RETRY_MAX_DELAY_MS', 'WORKERS'],
    );
    assert.ok(problems.includes('PORT: must be an integer from 0 to 65535, got "abc"'));
    assert.ok(problems.includes(`DEFAULT_PROVIDER: unknown provider "nosuch"; known: ${KNOWN_PROVIDERS}`));
    assert.ok(problems.includes('RETRY_MAX_DELAY_MS: must be at least RETRY_BASE_DELAY_MS (500), got 100'));
    assert.ok(problems.includes('FIREWORKS_BASE_URL: must be an absolute http(s) URL, got "not a url"'));
  });

  test('problems in CONFIG_FILE are listed with the environment\'s', () => {
    const path = configFile({
      settings: { PORT: 70000, NO_SUCH_SETTING: 1 },
      providers: { nosuch: {}, fireworks: { baseUrl: 'ftp://example.com' } },
    });
    const problems = problemsOf({ CONFIG_FILE: path, MAX_RETRIES: '11' });
    assert.equal(problems.length, 5, problems.join('\n'));
    // The environment's first, then the file's (a JSON file on one line: all at line 1).
    assert.equal(problems[0], 'MAX_RETRIES: must be an integer from 0 to 10, got "11"');
    assert.ok(problems.includes(`${path}:1: settings.PORT: must be an integer from 0 to 65535, got 70000`));
    assert.ok(problems.some((line) => line.startsWith(`${path}:1: settings.NO_SUCH_SETTING: unknown setting; known: HOST, PORT,`)));
    assert.ok(problems.includes(`${path}:1: providers.fireworks.baseUrl: must use http or https, got "ftp:"`));
    assert.ok(
      problems.includes(
        `${path}:1: providers.nosuch: unknown provider; built-in: ${KNOWN_PROVIDERS} (a provider of your own goes under custom_providers)`,
      ),
    );
  });

  test('a CONFIG_FILE that cannot be read is named, with the other problems', () => {
    const problems = problemsOf({ CONFIG_FILE: '/nonexistent/gateway.json', PORT: '-1' });
    assert.equal(problems.length, 2);
    assert.match(problems[0]!, /^CONFIG_FILE \/nonexistent\/gateway\.json: ENOENT/);
    assert.match(problems[1]!, /^PORT: /);
  });

  test('an environment variable wins over the file', () => {
    const path = configFile({ settings: { PORT: 'not a port', MAX_RETRIES: 3 } });
    const config = loadConfig({ CONFIG_FILE: path, PORT: '8080' });
    assert.equal(config.PORT, 8080);
    assert.equal(config.MAX_RETRIES, 3);
  });
});

describe('names in any case', () => {
  test('LOG_LEVEL and DEFAULT_PROVIDER are case-insensitive', () => {
    assert.equal(loadConfig({ LOG_LEVEL: 'INFO' }).LOG_LEVEL, 'info');
    assert.equal(loadConfig({ LOG_LEVEL: 'Debug' }).LOG_LEVEL, 'debug');
    assert.equal(loadConfig({ DEFAULT_PROVIDER: 'FireWorks' }).DEFAULT_PROVIDER, 'fireworks');
    assert.deepEqual(problemsOf({ LOG_LEVEL: 'Loud' }), [
      'LOG_LEVEL: must be one of fatal, error, warn, info, debug, trace, silent, got "Loud"',
    ]);
  });
});

describe('CORS settings', () => {
  test('origins are read as browsers send them', () => {
    const config = loadConfig({ CORS_ORIGINS: ' HTTPS://App.Example.com:443 , http://localhost:5173,,https://[::1]:8443 ' });
    assert.deepEqual(config.CORS_ORIGINS, ['https://app.example.com', 'http://localhost:5173', 'https://[::1]:8443']);
    assert.deepEqual(loadConfig({ CORS_ORIGINS: '*' }).CORS_ORIGINS, ['*']);
  });

  test('anything that is not an origin is named', () => {
    const problems = problemsOf({
      CORS_ORIGINS: 'https://ok.example.com,https://app.example.com/,app.example.com,https://user@app.example.com,https://app.example.com?x=1',
    });
    assert.deepEqual(
      problems,
      ['https://app.example.com/', 'app.example.com', 'https://user@app.example.com', 'https://app.example.com?x=1'].map(
        (origin) => `CORS_ORIGINS: "${origin}" is not an origin (scheme://host[:port], no path, e.g. https://app.example.com) or *`,
      ),
    );
  });

  test('header and method lists: lower-case headers, upper-case methods, a trailing * allowed', () => {
    const config = loadConfig({ CORS_ALLOW_HEADERS: 'Authorization, X-Stainless-*', CORS_ALLOW_METHODS: 'get,post' });
    assert.deepEqual(config.CORS_ALLOW_HEADERS, ['authorization', 'x-stainless-*']);
    assert.deepEqual(config.CORS_ALLOW_METHODS, ['GET', 'POST']);
    assert.deepEqual(problemsOf({ CORS_ALLOW_HEADERS: 'x-*-y,a b', CORS_ALLOW_METHODS: 'GE T', CORS_MAX_AGE_S: '-1' }), [
      'CORS_ALLOW_HEADERS: "x-*-y" is not a header name (or a name ending in *)',
      'CORS_ALLOW_HEADERS: "a b" is not a header name (or a name ending in *)',
      'CORS_ALLOW_METHODS: "GE T" is not a method name',
      'CORS_MAX_AGE_S: must be an integer, at least 0, got "-1"',
    ]);
  });

  test('CONFIG_FILE may give the lists as arrays', () => {
    const path = configFile({ settings: { CORS_ORIGINS: ['https://a.example.com', 'https://b.example.com'], CORS_MAX_AGE_S: 60 } });
    const config = loadConfig({ CONFIG_FILE: path });
    assert.deepEqual(config.CORS_ORIGINS, ['https://a.example.com', 'https://b.example.com']);
    assert.equal(config.CORS_MAX_AGE_S, 60);
  });
});

describe('shared state settings', () => {
  test('a REDIS_URL that is not a Redis URL is refused without quoting it (it may hold a password)', () => {
    const problems = problemsOf({ REDIS_URL: 'https://:hunter2-redis-pw@cache.internal:6379' });
    assert.deepEqual(problems, ['REDIS_URL: must be a redis:// or rediss:// URL (redis://[:password@]host[:port][/db])']);
    assert.equal(loadConfig({ REDIS_URL: 'rediss://:pw@cache.internal:6380/2' }).REDIS_URL, 'rediss://:pw@cache.internal:6380/2');
    assert.equal(loadConfig({}).REDIS_URL, '');
  });

  test('REDIS_FAIL_OPEN_SHARE is above 0 and at most 1', () => {
    for (const bad of ['0', '1.5', '-0.5', 'half']) {
      assert.deepEqual(problemsOf({ REDIS_FAIL_OPEN_SHARE: bad }), [`REDIS_FAIL_OPEN_SHARE: must be a number above 0, at most 1, got "${bad}"`]);
    }
    assert.equal(loadConfig({ REDIS_FAIL_OPEN_SHARE: '0.25' }).REDIS_FAIL_OPEN_SHARE, 0.25);
  });

  test("REDIS_URL and its password are among the gateway's secrets, redacted wherever it redacts", async () => {
    const { server } = await startGateway({ REDIS_URL: 'redis://default:pl%40in-redis-pw@127.0.0.1:1/0' });
    await server.shutdown(0);
    assert.equal(
      redactCredentials('AUTH failed for pl@in-redis-pw (pl%40in-redis-pw) at redis://default:pl%40in-redis-pw@127.0.0.1:1/0', [], server.gateway.secrets),
      'AUTH failed for [REDACTED] ([REDACTED]) at [REDACTED]',
    );
  });
});
