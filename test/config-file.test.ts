// The config file: YAML or JSON, every problem with its line, keys by value or by variable, the
// environment winning, custom providers, --config, and the guard against a base URL that loops.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { hostname, networkInterfaces, tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { ModelAliases } from '../src/aliases.js';
import { parseCommand, usage } from '../src/cli.js';
import { ConfigError, DEFAULT_HEDGES_IN_FLIGHT, loadConfig, type LoadOptions } from '../src/config.js';
import { providerSpecs } from '../src/providers/index.js';
import { DEFAULT_BREAKER } from '../src/route/health.js';

const BUILT_IN = providerSpecs.map((spec) => spec.name).join(', ');
import { openAICompatible } from '../src/providers/types.js';

/** A built-in provider with options and no default base URL, as Azure is. */
const cloud = openAICompatible({
  name: 'testcloud',
  defaultBaseUrl: undefined,
  baseUrlEnv: 'TESTCLOUD_BASE_URL',
  apiKeyEnv: 'TESTCLOUD_API_KEY',
  options: {
    apiVersion: { env: 'TESTCLOUD_API_VERSION', default: '2024-10-21', description: 'API version.' },
    region: { env: 'TESTCLOUD_REGION', default: 'eu', description: 'Region.', values: ['eu', 'us'] },
  },
  docs: 'https://example.com/testcloud',
});
const builtIns = [...providerSpecs, cloud];
const withCloud: LoadOptions = { providerSpecs: builtIns };

/** A file holding `text` exactly; the name is the caller's (the content decides how it is read). */
function file(text: string, name = 'gateway.yaml'): string {
  const path = join(mkdtempSync(join(tmpdir(), 'gateway-config-')), name);
  writeFileSync(path, text);
  return path;
}

function problemsOf(env: Record<string, string>, options: LoadOptions = {}): readonly string[] {
  try {
    loadConfig(env, options);
  } catch (err) {
    assert.ok(err instanceof ConfigError, `a ConfigError, got ${String(err)}`);
    return err.problems;
  }
  assert.fail(`no problem reported for ${JSON.stringify(env)}`);
}

const TWO_CLUSTERS = `# Two vLLM clusters behind one gateway.
settings:
  port: 8080
  MAX_RETRIES: 3
  cors_origins: [https://a.example.com, https://b.example.com]
  default_provider: vllm-a
providers:
  fireworks:
    base_url: https://fireworks.example.com/inference/v1/
    api_key_env: TEAM_FIREWORKS_KEY
  testcloud:
    base_url: https://team.testcloud.example.com/openai
    options:
      apiVersion: 2025-01-01
      region: us
custom_providers:
  - name: vllm-a
    base_url: http://vllm-a.internal:8000/v1
    api_key: key-a
    headers:
      X-Team: ml
      x-cluster: 1
    request_id_header: X-Request-Id
  - name: vllm-b
    base_url: http://vllm-b.internal:8000/v1
    api_key_env: VLLM_B_TOKEN
    key_optional: true
`;

describe('the config file', () => {
  test('YAML: settings in either case, a built-in provider, options, and two custom providers', () => {
    const path = file(TWO_CLUSTERS);
    const config = loadConfig({ CONFIG_FILE: path, TEAM_FIREWORKS_KEY: 'fw-key', VLLM_B_TOKEN: 'key-b' }, withCloud);
    assert.equal(config.PORT, 8080);
    assert.equal(config.MAX_RETRIES, 3);
    assert.deepEqual(config.CORS_ORIGINS, ['https://a.example.com', 'https://b.example.com']);
    assert.equal(config.DEFAULT_PROVIDER, 'vllm-a');
    assert.equal(config.providers.fireworks!.baseUrl.href, 'https://fireworks.example.com/inference/v1');
    assert.equal(config.providers.fireworks!.apiKey, 'fw-key');
    assert.deepEqual(config.providers.testcloud!.options, { apiVersion: '2025-01-01', region: 'us' });

    assert.deepEqual(
      config.providerSpecs.map((spec) => spec.name),
      [...builtIns.map((spec) => spec.name), 'vllm-a', 'vllm-b'],
    );
    const [a, b] = config.providerSpecs.slice(-2);
    assert.deepEqual(
      { kind: a!.kind, baseUrlEnv: a!.baseUrlEnv, apiKeyEnv: a!.apiKeyEnv, headers: a!.headers, requestIdHeader: a!.requestIdHeader },
      {
        kind: 'pass-through',
        baseUrlEnv: 'VLLM_A_BASE_URL',
        apiKeyEnv: 'VLLM_A_API_KEY',
        headers: [
          ['x-team', 'ml'],
          ['x-cluster', '1'],
        ],
        requestIdHeader: 'x-request-id',
      },
    );
    assert.equal(a!.keyOptional, false);
    assert.equal(b!.keyOptional, true);
    assert.equal(config.providers['vllm-a']!.baseUrl.href, 'http://vllm-a.internal:8000/v1');
    assert.equal(config.providers['vllm-a']!.apiKey, 'key-a');
    assert.equal(config.providers['vllm-b']!.apiKey, 'key-b');
    assert.ok(Object.isFrozen(config.providerSpecs) && Object.isFrozen(a) && Object.isFrozen(a!.headers));
    assert.ok(Object.isFrozen(config.providers['vllm-b']));
  });

  test('JSON is read as well, whatever the file is called; the first camelCase spellings still work', () => {
    const json = {
      settings: { MAX_RETRIES: 4, LOG_LEVEL: 'warn' },
      providers: { fireworks: { baseUrl: 'https://fw.example.com/v1', apiKey: 'fw-key' } },
      custom_providers: [{ name: 'vllm-a', base_url: 'http://vllm-a.internal:8000/v1', headers: { 'x-team': 'ml' } }],
    };
    for (const path of [file(JSON.stringify(json), 'gateway.conf'), file(JSON.stringify(json, null, '\t'), 'gateway.yaml')]) {
      const config = loadConfig({ CONFIG_FILE: path });
      assert.equal(config.MAX_RETRIES, 4);
      assert.equal(config.LOG_LEVEL, 'warn');
      assert.equal(config.providers.fireworks!.baseUrl.href, 'https://fw.example.com/v1');
      assert.equal(config.providers.fireworks!.apiKey, 'fw-key');
      assert.deepEqual(config.providerSpecs.at(-1)!.headers, [['x-team', 'ml']]);
    }
  });

  test('an empty file, or one of comments, sets nothing', () => {
    assert.equal(loadConfig({ CONFIG_FILE: file('') }).PORT, 3000);
    assert.equal(loadConfig({ CONFIG_FILE: file('# nothing yet\nsettings:\ncustom_providers:\n') }).PORT, 3000);
  });
});

describe('every problem, with its line', () => {
  test('each names the file, the line and the path, in the order of the file', () => {
    const path = file(
      [
        'settings:', // 1
        '  port: 70000', // 2
        '  LOG_LEVEL: loud', // 3
        '  no_such: 1', // 4
        'providers:', // 5
        '  fireworks:', // 6
        '    base_url: not a url', // 7
        '    colour: blue', // 8
        '  nosuch: {}', // 9
        'custom_providers:', // 10
        '  - name: vllm-a', // 11
        '    base_url: ftp://vllm-a.internal', // 12
        '    api_key_env: NO_SUCH_VARIABLE', // 13
        '  - name: Bad Name', // 14
        '    base_url: http://x', // 15
        '    headers: {x-ok: "1", "bad header": x}', // 16
      ].join('\n'),
    );
    const problems = problemsOf({ CONFIG_FILE: path, MAX_RETRIES: '11' });
    const unknownSetting = problems.find((line) => line.startsWith(`${path}:4: `));
    assert.match(unknownSetting!, /^.*:4: settings\.no_such: unknown setting; known: HOST, PORT, LOG_LEVEL/);
    assert.deepEqual(
      problems.filter((line) => line !== unknownSetting),
      [
        'MAX_RETRIES: must be an integer from 0 to 10, got "11"',
        `${path}:2: settings.port: must be an integer from 0 to 65535, got 70000`,
        `${path}:3: settings.LOG_LEVEL: must be one of fatal, error, warn, info, debug, trace, silent, got "loud"`,
        `${path}:7: providers.fireworks.base_url: must be an absolute http(s) URL, got "not a url"`,
        `${path}:8: providers.fireworks.colour: unknown key; known: base_url, api_key, api_key_env, baseUrl, apiKey, options`,
        `${path}:9: providers.nosuch: unknown provider; built-in: ${BUILT_IN} (a provider of your own goes under custom_providers)`,
        `${path}:12: custom_providers[0].base_url: must use http or https, got "ftp:"`,
        `${path}:13: custom_providers[0].api_key_env: the environment variable NO_SUCH_VARIABLE is not set (or is empty)`,
        `${path}:14: custom_providers[1].name: must be lower-case letters, digits, ".", "_" or "-", starting with a letter or digit, got "Bad Name"`,
        `${path}:16: custom_providers[1].headers.bad header: "bad header" is not a header name`,
      ],
    );
  });

  test('a YAML syntax error is named with its line; so are duplicate keys', () => {
    const broken = file('settings:\n  PORT: 1\n  PORT: 2\nproviders: [oops\n');
    const problems = problemsOf({ CONFIG_FILE: broken });
    assert.ok(problems.includes(`${broken}:3: Map keys must be unique`), problems.join('\n'));
    assert.ok(problems.every((line) => /^\S+:\d+: /.test(line)), problems.join('\n'));
  });

  test('the wrong kind of value says what it got, never a key or a header value', () => {
    const path = file(
      [
        'settings: [PORT]', // 1
        'custom_providers:', // 2
        '  - name: vllm-a', // 3
        '    base_url: 8000', // 4
        '    key_optional: "yes"', // 5
        '    api_key: 12345', // 6
        '    headers:', // 7
        '      x-secret: "s3cret\\r\\nx-injected: 1"', // 8
        '  - name: vllm-b', // 9
        '    base_url: http://vllm-b.internal/v1', // 10
        '    headers: {X-Team: a, x-team: b}', // 11
      ].join('\n'),
    );
    assert.deepEqual(problemsOf({ CONFIG_FILE: path }), [
      `${path}:1: settings: must be a map of setting names to values, got a list`,
      `${path}:4: custom_providers[0].base_url: must be a string, got 8000`,
      `${path}:5: custom_providers[0].key_optional: must be true or false, got "yes"`,
      `${path}:6: custom_providers[0].api_key: must be a string (quote it), got a number`,
      `${path}:8: custom_providers[0].headers.x-secret: must not hold line breaks or other control characters`,
      `${path}:11: custom_providers[1].headers.x-team: given twice`,
    ]);
  });

  test('a setting given twice (in two cases), and a key given twice, are refused', () => {
    const path = file('settings:\n  PORT: 1\n  port: 2\nproviders:\n  fireworks:\n    api_key: a\n    api_key_env: B\n');
    assert.deepEqual(problemsOf({ CONFIG_FILE: path }), [
      `${path}:3: settings.port: set twice (first as PORT at line 2)`,
      `${path}:7: providers.fireworks.api_key_env: give only one of api_key and api_key_env`,
    ]);
  });
});

describe('keys by value or by variable', () => {
  const path = file('providers:\n  fireworks:\n    api_key_env: TEAM_FIREWORKS_KEY\n');

  test('api_key_env reads the key from that variable at start-up', () => {
    assert.equal(loadConfig({ CONFIG_FILE: path, TEAM_FIREWORKS_KEY: 'fw-key' }).providers.fireworks!.apiKey, 'fw-key');
  });

  test('a missing (or empty) variable is an error naming it and its line', () => {
    for (const env of [{}, { TEAM_FIREWORKS_KEY: '' }] as Record<string, string>[]) {
      assert.deepEqual(problemsOf({ CONFIG_FILE: path, ...env }), [
        `${path}:3: providers.fireworks.api_key_env: the environment variable TEAM_FIREWORKS_KEY is not set (or is empty)`,
      ]);
    }
  });

  test('the provider\'s own variable wins, and then the file\'s is not needed', () => {
    assert.equal(loadConfig({ CONFIG_FILE: path, FIREWORKS_API_KEY: 'env-key' }).providers.fireworks!.apiKey, 'env-key');
  });
});

describe('the environment wins over the file', () => {
  const path = file(
    [
      'settings: {MAX_RETRIES: 3, PORT: "not a port"}',
      'providers:',
      '  fireworks: {base_url: "https://file.example.com/v1", api_key: file-key}',
      '  testcloud: {base_url: "https://cloud.example.com", options: {apiVersion: file-version, region: nowhere}}',
      'custom_providers:',
      '  - {name: vllm-a, base_url: "http://file-a.internal/v1", api_key: file-a}',
    ].join('\n'),
  );

  test('for a setting, a base URL, a key and an option, built-in or custom', () => {
    const config = loadConfig(
      {
        CONFIG_FILE: path,
        PORT: '8080',
        FIREWORKS_BASE_URL: 'https://env.example.com/v1',
        FIREWORKS_API_KEY: 'env-key',
        TESTCLOUD_API_VERSION: 'env-version',
        TESTCLOUD_REGION: 'eu',
        VLLM_A_BASE_URL: 'http://env-a.internal/v1',
        VLLM_A_API_KEY: 'env-a',
      },
      withCloud,
    );
    assert.equal(config.PORT, 8080);
    assert.equal(config.MAX_RETRIES, 3);
    assert.equal(config.providers.fireworks!.baseUrl.href, 'https://env.example.com/v1');
    assert.equal(config.providers.fireworks!.apiKey, 'env-key');
    assert.deepEqual(config.providers.testcloud!.options, { apiVersion: 'env-version', region: 'eu' });
    assert.equal(config.providers['vllm-a']!.baseUrl.href, 'http://env-a.internal/v1');
    assert.equal(config.providers['vllm-a']!.apiKey, 'env-a');
  });

  test('the file\'s values count where the environment says nothing, and are checked', () => {
    assert.deepEqual(problemsOf({ CONFIG_FILE: path, PORT: '8080' }, withCloud), [
      `${path}:4: providers.testcloud.options.region: must be one of eu, us, got "nowhere"`,
    ]);
    assert.deepEqual(problemsOf({ CONFIG_FILE: path, PORT: '8080', TESTCLOUD_REGION: 'moon' }, withCloud), [
      'TESTCLOUD_REGION: must be one of eu, us, got "moon"',
    ]);
  });
});

describe('providers', () => {
  test('a built-in provider without a default base URL is absent until one is set; its options have defaults', () => {
    const config = loadConfig({}, withCloud);
    assert.ok(config.providerSpecs.includes(cloud));
    assert.equal(config.providers.testcloud, undefined);
    const set = loadConfig({ TESTCLOUD_BASE_URL: 'https://cloud.example.com/' }, withCloud);
    assert.equal(set.providers.testcloud!.baseUrl.href, 'https://cloud.example.com/');
    assert.deepEqual(set.providers.testcloud!.options, { apiVersion: '2024-10-21', region: 'eu' });
  });

  test('custom names: not a built-in, not twice, not sharing variables, with a base URL, without reserved headers', () => {
    const path = file(
      [
        'custom_providers:', // 1
        '  - {name: fireworks, base_url: "http://a/v1"}', // 2
        '  - {name: vllm-a, base_url: "http://a/v1"}', // 3
        '  - {name: vllm-a, base_url: "http://b/v1"}', // 4
        '  - {name: vllm_a, base_url: "http://c/v1"}', // 5
        '  - {name: testcloud-api, base_url: "http://d/v1"}', // 6
        '  - {name: vllm-e}', // 7
        '  - {name: vllm-f, base_url: "http://f/v1", headers: {Authorization: x, Host: y}}', // 8
        'providers:', // 9
        '  vllm-a: {api_key: x}', // 10
      ].join('\n'),
    );
    // (testcloud-api would read TESTCLOUD_API_API_KEY: not taken; make it clash through a setting's name)
    const clashing = openAICompatible({ ...cloud, name: 'other', apiKeyEnv: 'TESTCLOUD_API_BASE_URL' });
    assert.deepEqual(problemsOf({ CONFIG_FILE: path }, { providerSpecs: [...builtIns, clashing] }), [
      `${path}:2: custom_providers[0].name: "fireworks" is a built-in provider; set its base_url, key or options under providers.fireworks`,
      `${path}:4: custom_providers[2].name: "vllm-a" is declared twice (first at line 3)`,
      `${path}:5: custom_providers[3].name: "vllm_a" and "vllm-a" would both read VLLM_A_BASE_URL and VLLM_A_API_KEY; rename one`,
      `${path}:6: custom_providers[4].name: "testcloud-api" would read TESTCLOUD_API_BASE_URL, which is already other's key; rename it`,
      `${path}:7: custom_providers[5].name: "vllm-e" needs a base_url (or VLLM_E_BASE_URL in the environment)`,
      `${path}:8: custom_providers[6].headers.Authorization: cannot be set here (give the key in api_key or api_key_env)`,
      `${path}:8: custom_providers[6].headers.Host: cannot be set here (the gateway sets it from base_url)`,
      `${path}:10: providers.vllm-a: "vllm-a" is declared under custom_providers; set its base_url and key there`,
    ]);
  });

  test('a custom provider may take its base URL from its variable alone', () => {
    const path = file('custom_providers:\n  - name: vllm.e\n    key_optional: true\n');
    const config = loadConfig({ CONFIG_FILE: path, VLLM_E_BASE_URL: 'http://vllm-e.internal/v1' });
    assert.equal(config.providers['vllm.e']!.baseUrl.href, 'http://vllm-e.internal/v1');
  });

  test('DEFAULT_PROVIDER may name a custom provider, from the environment or the file', () => {
    const path = file('custom_providers:\n  - {name: vllm-a, base_url: "http://vllm-a.internal/v1"}\n');
    assert.equal(loadConfig({ CONFIG_FILE: path, DEFAULT_PROVIDER: 'VLLM-A' }).DEFAULT_PROVIDER, 'vllm-a');
    const both = file('settings: {DEFAULT_PROVIDER: vllm-b}\ncustom_providers:\n  - {name: vllm-b, base_url: "http://b/v1"}\n');
    assert.equal(loadConfig({ CONFIG_FILE: both }).DEFAULT_PROVIDER, 'vllm-b');
    assert.deepEqual(problemsOf({ CONFIG_FILE: path, DEFAULT_PROVIDER: 'vllm-z' }), [
      `DEFAULT_PROVIDER: unknown provider "vllm-z"; known: ${BUILT_IN}, vllm-a`,
    ]);
  });

  test('DEFAULT_PROVIDER may not name a provider that has no base URL', () => {
    assert.deepEqual(problemsOf({ DEFAULT_PROVIDER: 'testcloud' }, withCloud), [
      'DEFAULT_PROVIDER: "testcloud" has no base URL; set TESTCLOUD_BASE_URL (or providers.testcloud.base_url in the config file)',
    ]);
  });
});

describe('--config', () => {
  test('the command line names the file, and wins over CONFIG_FILE', () => {
    const chosen = file('settings: {MAX_RETRIES: 5}\n');
    const other = file('settings: {MAX_RETRIES: 1}\n');
    assert.deepEqual(parseCommand(['--config', chosen]), { run: 'serve', configFile: chosen });
    assert.deepEqual(parseCommand([`--config=${chosen}`]), { run: 'serve', configFile: chosen });
    assert.deepEqual(parseCommand([]), { run: 'serve', configFile: undefined });
    assert.equal(parseCommand(['--config=']).run, 'usage-error');
    assert.equal(loadConfig({ CONFIG_FILE: other }, { configFile: chosen }).MAX_RETRIES, 5);
    assert.match(problemsOf({ CONFIG_FILE: other }, { configFile: '/nonexistent.yaml' })[0]!, /^--config \/nonexistent\.yaml: ENOENT/);
  });

  test('--help lists the config file', () => {
    const help = usage();
    assert.match(help, /--config FILE/);
    assert.match(help, /CONFIG_FILE=\(none\)/);
    assert.match(help, /custom_providers/);
  });

  test('the gateway process exits 1 on a bad file, naming the line', async () => {
    const bad = file('settings:\n  PORT: 1\n  LOG_LEVEL: loud\n');
    const child = spawn(process.execPath, ['dist/src/main.js', '--config', bad], {
      env: { PATH: process.env.PATH ?? '', CONFIG_FILE: file('settings: {MAX_RETRIES: 1}\n') },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    const [code] = await once(child, 'exit');
    assert.equal(code, 1);
    assert.equal(
      output,
      `ai-gateway: invalid configuration: ${bad}:3: settings.LOG_LEVEL: must be one of fatal, error, warn, info, debug, trace, silent, got "loud"\n`,
    );
  });
});

describe('a base URL that points back at the gateway', () => {
  const own = Object.values(networkInterfaces())
    .flatMap((list) => list ?? [])
    .find((entry) => !entry.internal && entry.family === 'IPv4')?.address;

  test('is refused for every spelling of this machine on the same port', () => {
    const hosts = [
      '127.0.0.1',
      '127.1.2.3',
      '127.1',
      '2130706433',
      'localhost',
      'LocalHost.',
      'api.localhost',
      '[::1]',
      '[0:0:0:0:0:0:0:1]',
      '[::ffff:127.0.0.1]',
      '0.0.0.0',
      '[::]',
      hostname(),
      ...(own ? [own] : []),
    ];
    for (const host of hosts) {
      const problems = problemsOf({ PORT: '3000', FIREWORKS_BASE_URL: `http://${host}:3000/v1` });
      assert.equal(problems.length, 1, host);
      assert.match(problems[0]!, /^FIREWORKS_BASE_URL: http:\/\/.+:3000\/v1 points at this gateway \(PORT 3000\); requests would loop/, host);
    }
    assert.deepEqual(problemsOf({ PORT: '3000', FIREWORKS_BASE_URL: 'http://127.0.0.1:3000/v1/' }), [
      'FIREWORKS_BASE_URL: http://127.0.0.1:3000/v1 points at this gateway (PORT 3000); requests would loop. Unset it for the gateway, or point it at the provider',
    ]);
  });

  test('HOST itself counts, and a URL without a port means its scheme\'s', () => {
    assert.equal(problemsOf({ HOST: 'gateway.internal', PORT: '8080', FIREWORKS_BASE_URL: 'http://Gateway.Internal:8080' }).length, 1);
    assert.equal(problemsOf({ PORT: '80', FIREWORKS_BASE_URL: 'http://localhost/v1' }).length, 1);
    assert.equal(problemsOf({ PORT: '443', FIREWORKS_BASE_URL: 'https://localhost/v1' }).length, 1);
  });

  test('from the file, for a custom provider too, naming the line', () => {
    const path = file('settings: {port: 9000}\ncustom_providers:\n  - name: vllm-a\n    base_url: http://localhost:9000/v1\n');
    assert.deepEqual(problemsOf({ CONFIG_FILE: path }), [
      `${path}:4: custom_providers[0].base_url: http://localhost:9000/v1 points at this gateway (PORT 9000); requests would loop. Point it at the provider`,
    ]);
  });

  test('PORT 0 is exempt, and another port, or another host, is fine', () => {
    assert.equal(loadConfig({ PORT: '0', FIREWORKS_BASE_URL: 'http://127.0.0.1:3000/v1' }).providers.fireworks!.baseUrl.port, '3000');
    assert.ok(loadConfig({ PORT: '3000', FIREWORKS_BASE_URL: 'http://127.0.0.1:8000/v1' }).providers.fireworks);
    assert.ok(loadConfig({ PORT: '3000', FIREWORKS_BASE_URL: 'http://vllm.internal:3000/v1' }).providers.fireworks);
    assert.ok(loadConfig({ PORT: '80', FIREWORKS_BASE_URL: 'https://localhost/v1' }).providers.fireworks);
  });
});

describe('the documentation', () => {
  /** The body of the first fenced block in `language` after `heading`, in docs/CONFIGURATION.md or `doc`. */
  function example(heading: string, language: string, doc = 'docs/CONFIGURATION.md'): string {
    const readme = readFileSync(doc, 'utf8');
    const from = readme.indexOf(heading);
    const start = readme.indexOf(`\`\`\`${language}\n`, from) + language.length + 4;
    assert.ok(from >= 0 && start > from, `a ${language} block after ${heading}`);
    return readme.slice(start, readme.indexOf('```', start));
  }
  // Azure has no public default base URL; this stands in for it until (and unless) the registry has one.
  const azure = openAICompatible({
    ...cloud,
    name: 'azure',
    baseUrlEnv: 'AZURE_BASE_URL',
    apiKeyEnv: 'AZURE_API_KEY',
    options: { apiVersion: { env: 'AZURE_API_VERSION', default: '2024-10-21', description: 'API version.' } },
  });
  const registry = providerSpecs.some((spec) => spec.name === 'azure') ? providerSpecs : [...providerSpecs, azure];

  test('the YAML and JSON examples of the config file load as they say', () => {
    const env = { TEAM_FIREWORKS_KEY: 'fw-key', AZURE_OPENAI_KEY: 'az-key', VLLM_A_TOKEN: 'a-key' };
    const yaml = loadConfig({ ...env, CONFIG_FILE: file(example('### The config file', 'yaml')) }, { providerSpecs: registry });
    assert.equal(yaml.PORT, 8080);
    assert.equal(yaml.DEFAULT_PROVIDER, 'vllm-a');
    assert.equal(yaml.providers.fireworks!.apiKey, 'fw-key');
    assert.equal(yaml.providers.azure!.options.apiVersion, '2024-10-21');
    assert.deepEqual(yaml.providerSpecs.slice(-2).map((spec) => spec.name), ['vllm-a', 'vllm-b']);
    assert.equal(yaml.providers['vllm-a']!.apiKey, 'a-key');
    const json = loadConfig({ ...env, CONFIG_FILE: file(example('### The config file', 'json'), 'gateway.json') });
    assert.deepEqual(json.providerSpecs.slice(-2).map((spec) => spec.name), ['vllm-a', 'vllm-b']);
    const aliases = loadConfig({ CONFIG_FILE: file(example('#### Model aliases', 'yaml')) });
    assert.equal(aliases.modelAliases.get('gpt-4o-mini'), 'groq/llama-3.1-8b-instant');
    assert.equal(aliases.modelAliases.size, 5);
    assert.match(aliases.defaultModels['openai-responses'] ?? '', /^fireworks\//);
    const claudeCode = new ModelAliases(loadConfig({ CONFIG_FILE: file(example('### Claude Code on any model', 'yaml', 'docs/API.md')) }).modelAliases);
    assert.match(claudeCode.resolve('claude-opus-5-5') ?? '', /kimi/);
    assert.match(claudeCode.resolve('claude-haiku-4-5-20251001') ?? '', /llama/);
  });

  test("the README's routes and docs/ROUTES.md's reference route load as they say", () => {
    const readme = loadConfig({ FW_KEY_A: 'fw-a', FW_KEY_B: 'fw-b', CONFIG_FILE: file(example('## Routes', 'yaml', 'README.md')) });
    const [chat, bulk, fast] = readme.routes;
    assert.deepEqual([chat?.name, chat?.strategy, chat?.targets.map((t) => t.provider), chat?.maxAttempts], ['chat', 'fallback', ['fireworks', 'anthropic'], 2]);
    // A quarter to each Fireworks key, half to Groq: weights are per key.
    assert.equal(bulk?.strategy, 'weighted');
    const llama = 'fireworks/accounts/fireworks/models/llama-v3p1-8b-instruct';
    assert.deepEqual(bulk?.targets.map((t) => [t.id, t.weight, t.key]), [
      [llama, 1, 'fw-a'],
      [`${llama}#2`, 1, 'fw-b'],
      ['groq/llama-3.1-8b-instant', 2, undefined],
    ]);
    assert.deepEqual([fast?.strategy, fast?.hedge], ['least-latency', { afterMs: 800, maxInFlight: DEFAULT_HEDGES_IN_FLIGHT }]);

    const reference = loadConfig({ FIREWORKS_KEY_A: 'fw-a', FIREWORKS_KEY_B: 'fw-b', CONFIG_FILE: file(example('## A route', 'yaml', 'docs/ROUTES.md')) });
    const route = reference.routes[0]!;
    assert.deepEqual(
      [route.name, route.strategy, route.timeoutMs, route.maxAttempts, [...route.failOverOn], route.allowTargetOverride, route.hedge],
      ['team-chat', 'fallback', 60_000, 4, [400], true, { afterMs: 800, maxInFlight: 8 }],
    );
    // The route's breaker over the top-level one, over the defaults.
    assert.deepEqual(route.breaker, { ...DEFAULT_BREAKER, consecutiveFailures: 3, openMs: 10_000 });
    assert.deepEqual(
      route.targets.map((t) => [t.id, t.key, t.maxRetries, t.timeoutMs, t.headers]),
      [
        ['fw-llama', 'fw-a', 1, 20_000, ['x-team', 'search']],
        ['fw-llama#2', 'fw-b', 1, 20_000, ['x-team', 'search']],
        ['anthropic/claude-sonnet-4-5', undefined, 0, undefined, []],
      ],
    );
  });
});

describe('model_aliases', () => {
  test('each alias names the model that serves it, with or without a provider', () => {
    const path = file(['model_aliases:', '  claude-sonnet-4-5: fireworks/accounts/fireworks/models/kimi-k2', '  claude-haiku-4-5: llama-small'].join('\n'));
    const config = loadConfig({ CONFIG_FILE: path });
    assert.deepEqual([...config.modelAliases], [
      ['claude-sonnet-4-5', 'fireworks/accounts/fireworks/models/kimi-k2'],
      ['claude-haiku-4-5', 'llama-small'],
    ]);
    assert.equal(loadConfig({}).modelAliases.size, 0);
  });

  test('a target that is no model name, or a provider without a base URL, is named with its line', () => {
    const path = file(['model_aliases:', '  a: "two words"', '  b: azure/gpt-4o', '  c: ""', '  "d e": x', '  f: [1]'].join('\n'));
    assert.deepEqual(problemsOf({ CONFIG_FILE: path }), [
      `${path}:2: model_aliases.a: must be a model name (visible ASCII, no spaces, quotes or backslashes), got "two words"`,
      `${path}:3: model_aliases.b: provider "azure" has no base URL configured`,
      `${path}:4: model_aliases.c: must not be empty`,
      `${path}:5: model_aliases.d e: an alias must be a model name (visible ASCII, no spaces, quotes or backslashes)`,
      `${path}:6: model_aliases.f: must be a string, got a list`,
    ]);
  });
});
