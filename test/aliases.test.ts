// Model aliases with patterns and a default model per inbound API: the config file's checks, which
// alias wins, where a default applies, the message a provider's 404 carries when no alias matched
// (read through the Anthropic SDK, as Claude Code reads it), and the aliases in GET /v1/models.
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, beforeEach, describe, test } from 'node:test';
import Anthropic, { NotFoundError } from '@anthropic-ai/sdk';
import OpenAI from 'openai';
import { startFireworksSim, type FireworksSim } from '../sim/fireworks.js';
import { ModelAliases } from '../src/aliases.js';
import { ConfigError, loadConfig } from '../src/config.js';
import type { GatewayServer } from '../src/server.js';
import { KEY, MODEL, startGateway } from './helpers.js';

const BIG = 'accounts/fireworks/models/llama-v3p1-70b-instruct';
const MIXTRAL = 'accounts/fireworks/models/mixtral-8x7b-instruct';

function file(text: string): string {
  const path = join(mkdtempSync(join(tmpdir(), 'gateway-aliases-')), 'gateway.yaml');
  writeFileSync(path, text);
  return path;
}

function problemsOf(text: string): { path: string; problems: readonly string[] } {
  const path = file(text);
  try {
    loadConfig({ CONFIG_FILE: path });
  } catch (err) {
    if (err instanceof ConfigError) return { path, problems: err.problems };
    throw err;
  }
  return { path, problems: [] };
}

describe('model_aliases patterns and default_models in the config file', () => {
  test('patterns and default models are read in the order the file declares them', () => {
    const config = loadConfig({
      CONFIG_FILE: file(
        [
          'model_aliases:',
          '  claude-*: fireworks/big',
          '  claude-sonnet-4-5: fireworks/exact',
          'default_models:',
          '  anthropic-messages: fireworks/kimi',
          '  openai-responses: small',
          '  chat: groq/llama-3.1-8b-instant',
        ].join('\n'),
      ),
    });
    assert.deepEqual([...config.modelAliases.keys()], ['claude-*', 'claude-sonnet-4-5']);
    assert.deepEqual(config.defaultModels, {
      'anthropic-messages': 'fireworks/kimi',
      'openai-responses': 'small',
      chat: 'groq/llama-3.1-8b-instant',
    });
    assert.deepEqual(loadConfig({}).defaultModels, {});
  });

  test('a pattern that is only stars, a doubled star, a star in a target, an unknown API and a bad default are named with their lines', () => {
    const { path, problems } = problemsOf(
      [
        'model_aliases:',
        '  "*": fireworks/a',
        '  claude-**-haiku: fireworks/b',
        '  claude-*: fireworks/c-*',
        'default_models:',
        '  embeddings: fireworks/d',
        '  chat: azure/gpt-4o',
        '  anthropic-messages: ""',
        '  openai-responses: [1]',
      ].join('\n'),
    );
    assert.deepEqual(problems, [
      `${path}:2: model_aliases.*: a pattern of "*" alone would take every model on every route; set default_models for an API instead`,
      `${path}:3: model_aliases.claude-**-haiku: "**" matches what "*" does; write one`,
      `${path}:4: model_aliases.claude-*: must name one model, got "fireworks/c-*": "*" is a pattern only in the alias's name`,
      `${path}:6: default_models.embeddings: unknown key; known: chat, anthropic-messages, openai-responses, gemini`,
      `${path}:7: default_models.chat: provider "azure" has no base URL configured`,
      `${path}:8: default_models.anthropic-messages: must not be empty`,
      `${path}:9: default_models.openai-responses: must be a string, got a list`,
    ]);
  });

  test('default_models that is not a map is named', () => {
    const { path, problems } = problemsOf('default_models: fireworks/x\n');
    assert.deepEqual(problems, [`${path}:1: default_models: must be a map, got "fireworks/x"`]);
  });
});

describe('which alias serves a name', () => {
  const aliases = new ModelAliases(
    new Map([
      ['claude-*', 'general'],
      ['claude-*-haiku-*', 'small'],
      ['claude-opus-*', 'opus-first'],
      ['claude-*-5-5', 'tie-second'],
      ['claude-sonnet-4-5', 'exact'],
      ['*-mini', 'mini'],
    ]),
  );

  test('an exact name wins over every pattern that matches it', () => {
    assert.equal(aliases.resolve('claude-sonnet-4-5'), 'exact');
  });

  test('among patterns the longest literal text wins, whatever the order', () => {
    assert.equal(aliases.resolve('claude-3-5-haiku-20241022'), 'small');
    assert.equal(aliases.resolve('claude-sonnet-4-6'), 'general');
  });

  test('between equally specific patterns the first declared wins', () => {
    // claude-opus-* and claude-*-5-5 both have 12 literal characters.
    assert.equal(aliases.resolve('claude-opus-5-5'), 'opus-first');
    assert.equal(aliases.resolve('claude-sonnet-5-5'), 'tie-second');
  });

  test('a star matches any run of characters, none included, and text must match at both ends', () => {
    assert.equal(aliases.resolve('claude-'), 'general');
    assert.equal(aliases.resolve('gpt-4o-mini'), 'mini');
    assert.equal(aliases.resolve('-mini'), 'mini');
    assert.equal(aliases.resolve('gpt-4o-mini-x'), undefined);
    assert.equal(aliases.resolve('xclaude-1'), undefined);
    // The parts may not overlap: "claude-" and "-haiku-" need their own characters.
    assert.equal(new ModelAliases(new Map([['ab*ba', 't']])).resolve('aba'), undefined);
    assert.equal(new ModelAliases(new Map([['a*b*a', 't']])).resolve('aba'), 't');
  });
});

describe('aliases over HTTP', () => {
  let sim: FireworksSim | undefined;
  let gateway: GatewayServer | undefined;
  let origin: string;
  let noDefaults: GatewayServer | undefined;
  let noDefaultsOrigin: string;
  let bare: GatewayServer | undefined;
  let bareOrigin: string;

  before(async () => {
    sim = await startFireworksSim({ port: 0 });
    const env = { FIREWORKS_BASE_URL: sim.url, FIREWORKS_API_KEY: KEY };
    const aliases = [
      'model_aliases:',
      `  claude-*: fireworks/${MIXTRAL}`,
      `  claude-*haiku*: fireworks/${MODEL}`,
      `  claude-sonnet-4-5: fireworks/${BIG}`,
      `  picker-name: fireworks/${BIG}`,
    ];
    const started = await startGateway({
      ...env,
      CONFIG_FILE: file(
        [...aliases, 'default_models:', `  anthropic-messages: fireworks/${BIG}`, `  chat: fireworks/${MODEL}`, `  openai-responses: fireworks/${MIXTRAL}`].join('\n'),
      ),
    });
    gateway = started.server;
    origin = started.url.slice(0, -'/v1'.length);
    const only = await startGateway({ ...env, CONFIG_FILE: file(aliases.join('\n')) });
    noDefaults = only.server;
    noDefaultsOrigin = only.url.slice(0, -'/v1'.length);
    const none = await startGateway(env);
    bare = none.server;
    bareOrigin = none.url.slice(0, -'/v1'.length);
  });
  after(async () => {
    // Whatever before() managed to start, so that a failed start does not keep the run alive.
    await Promise.all([gateway?.shutdown(0), noDefaults?.shutdown(0), bare?.shutdown(0)]);
    await sim?.close();
  });
  beforeEach(() => sim!.clear());

  /** The model the provider was asked for by the last request. */
  function upstreamModel(): string {
    return sim!.requests.at(-1)!.json.model as string;
  }

  function anthropic(at: string, headers: Record<string, string> = {}): Anthropic {
    return new Anthropic({ baseURL: at, apiKey: 'use-server-key', maxRetries: 0, defaultHeaders: headers });
  }

  /** The message of an Anthropic error body, as the SDK parsed it. */
  function messageOf(err: NotFoundError): string {
    return (err.error as { error: { message: string } }).error.message;
  }

  const ask = { max_tokens: 16, messages: [{ role: 'user' as const, content: 'hi' }] };

  test('Claude Code names on /v1/messages: exact, then the most specific pattern', async () => {
    const client = anthropic(origin);
    const sonnet = await client.messages.create({ model: 'claude-sonnet-4-5', ...ask });
    assert.equal(sonnet.model, 'claude-sonnet-4-5');
    assert.equal(upstreamModel(), BIG);
    await client.messages.create({ model: 'claude-haiku-4-5-20251001', ...ask });
    assert.equal(upstreamModel(), MODEL);
    await client.messages.create({ model: 'claude-3-5-haiku-20241022', ...ask });
    assert.equal(upstreamModel(), MODEL);
    await client.messages.create({ model: 'claude-opus-5-5', ...ask });
    assert.equal(upstreamModel(), MIXTRAL);
  });

  test('a name no alias matches gets its API\'s default model, unless the request names its provider', async () => {
    await anthropic(origin).messages.create({ model: 'gpt-5-codex', ...ask });
    assert.equal(upstreamModel(), BIG);

    const openai = new OpenAI({ baseURL: `${origin}/v1/`, apiKey: 'use-server-key', maxRetries: 0 });
    await openai.chat.completions.create({ model: 'some-model', messages: [{ role: 'user', content: 'hi' }] });
    assert.equal(upstreamModel(), MODEL);
    await openai.responses.create({ model: 'gpt-5-codex', input: 'hi' });
    assert.equal(upstreamModel(), MIXTRAL);

    // A `provider/model` name and an x-provider header each name the model the client wants.
    await openai.chat.completions.create({ model: `fireworks/${BIG}`, messages: [{ role: 'user', content: 'hi' }] });
    assert.equal(upstreamModel(), BIG);
    await openai.chat.completions.create(
      { model: MIXTRAL, messages: [{ role: 'user', content: 'hi' }] },
      { headers: { 'x-provider': 'fireworks' } },
    );
    assert.equal(upstreamModel(), MIXTRAL);
    await assert.rejects(
      anthropic(origin, { 'x-provider': 'fireworks' }).messages.create({ model: 'gpt-5-codex', ...ask }),
      (err: unknown) => err instanceof NotFoundError && /No model alias matched "gpt-5-codex"/.test(messageOf(err)),
    );
  });

  test('a 404 for a name no alias matched says so, lists the aliases, and arrives as the Anthropic SDK\'s NotFoundError', async () => {
    const err = await anthropic(noDefaultsOrigin)
      .messages.create({ model: 'gpt-5-codex', ...ask })
      .then(() => assert.fail('the provider knows no such model'), (error: unknown) => error);
    assert.ok(err instanceof NotFoundError, String(err));
    assert.equal(err.status, 404);
    assert.equal((err.error as { error?: { type?: string } }).error?.type, 'not_found_error');
    // The provider's own message first, then why: no alias matched, which exist, where to add one.
    assert.match(messageOf(err), /^Model not found, inaccessible, and\/or not deployed\. No model alias/);
    assert.match(
      messageOf(err),
      /No model alias matched "gpt-5-codex" \(model_aliases: claude-sonnet-4-5, picker-name, claude-\*haiku\*, claude-\*\)\. Add one or a default_models\.anthropic-messages entry to the config file/,
    );
    // Fireworks' short names are expanded as ever: the name reached the provider unaliased.
    assert.equal(upstreamModel(), 'accounts/fireworks/models/gpt-5-codex');
  });

  test('without any alias, a 404 on /v1/messages says none are configured; on chat it is the provider\'s alone', async () => {
    const err = await anthropic(bareOrigin)
      .messages.create({ model: 'claude-opus-5-5', ...ask })
      .then(() => assert.fail('the provider knows no such model'), (error: unknown) => error);
    assert.ok(err instanceof NotFoundError, String(err));
    assert.match(messageOf(err), /No model alias matched "claude-opus-5-5": the gateway has no model_aliases/);

    const openai = new OpenAI({ baseURL: `${bareOrigin}/v1/`, apiKey: 'use-server-key', maxRetries: 0 });
    const chatErr = await openai.chat.completions
      .create({ model: 'no-such-model', messages: [{ role: 'user', content: 'hi' }] })
      .then(() => assert.fail('the provider knows no such model'), (error: unknown) => error);
    assert.ok(chatErr instanceof OpenAI.NotFoundError, String(chatErr));
    assert.doesNotMatch(chatErr.message, /alias/);
  });

  test('a name an alias sent to a model the provider lacks is not blamed on the aliases', async () => {
    const started = await startGateway({
      FIREWORKS_BASE_URL: sim!.url,
      FIREWORKS_API_KEY: KEY,
      CONFIG_FILE: file('model_aliases:\n  claude-*: fireworks/accounts/fireworks/models/gone\n'),
    });
    try {
      const err = await anthropic(started.url.slice(0, -'/v1'.length))
        .messages.create({ model: 'claude-opus-5-5', ...ask })
        .then(() => assert.fail('the provider knows no such model'), (error: unknown) => error);
      assert.ok(err instanceof NotFoundError, String(err));
      assert.doesNotMatch(messageOf(err), /alias/);
    } finally {
      await started.server.shutdown(0);
    }
  });

  test('GET /v1/models lists the exact aliases before the providers\' models, and no pattern', async () => {
    const openai = new OpenAI({ baseURL: `${origin}/v1/`, apiKey: 'use-server-key', maxRetries: 0 });
    const ids: string[] = [];
    const owners = new Map<string, string>();
    for await (const model of openai.models.list()) {
      ids.push(model.id);
      owners.set(model.id, model.owned_by);
    }
    assert.deepEqual(ids.slice(0, 2), ['claude-sonnet-4-5', 'picker-name']);
    assert.equal(owners.get('picker-name'), 'fireworks');
    assert.ok(ids.includes(`fireworks/${MODEL}`), ids.join(', '));
    assert.ok(!ids.some((id) => id.includes('*')), ids.join(', '));
  });
});
