// Cost: worked examples at each provider's published prices (USD per million tokens, written beside
// each), with cached and reasoning tokens, tiers above a prompt size, model ids as routed (Bedrock's
// inference profiles, Fireworks' resource paths, Gemini's `models/`), no price (undefined, never
// 0), the config file's prices (0 is a price; they win over the table), and agreement with the
// package's own calcPrice for every model it prices by the token.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { createRequire } from 'node:module';
import type * as GenaiPrices from '@pydantic/genai-prices';
import { ConfigError, loadConfig, type PriceOverride } from '../src/config.js';
import { PACKAGE_PROVIDER_IDS, createPricing } from '../src/observe/prices.js';
import { providerSpecs } from '../src/providers/index.js';
import type { Usage } from '../src/stream.js';
import { startGatewayProcess, until } from './helpers.js';

const TOLERANCE = 1e-12;
const pricing = createPricing({ prices: [], providerSpecs });

function assertClose(actual: number | undefined, expected: number): void {
  assert.ok(actual !== undefined, `a price, expected ${expected}`);
  assert.ok(Math.abs(actual - expected) <= TOLERANCE, `${actual} is not ${expected}`);
}

function override(entry: Partial<PriceOverride> & Pick<PriceOverride, 'provider' | 'model' | 'input' | 'output'>): PriceOverride {
  return { cacheRead: undefined, cacheWrite: undefined, reasoning: undefined, ...entry };
}

describe('worked examples at published prices', () => {
  test('OpenAI gpt-4o with cached tokens: input $2.50, cached input $1.25, output $10', () => {
    // prompt_tokens 10,000 of which 6,000 cached; 500 completion tokens.
    const usage: Usage = { promptTokens: 10_000, completionTokens: 500, cacheReadTokens: 6_000 };
    // 4,000 x 2.50 + 6,000 x 1.25 + 500 x 10 = 10,000 + 7,500 + 5,000 = 22,500 per million.
    assertClose(pricing.cost('openai', 'gpt-4o', usage), 0.0225);
    // A dated snapshot is the same model.
    assertClose(pricing.cost('openai', 'gpt-4o-2024-08-06', usage), 0.0225);
  });

  test('OpenAI gpt-4.1 with cached tokens: input $2, cached input $0.50, output $8', () => {
    const usage: Usage = { promptTokens: 50_000, completionTokens: 2_000, cacheReadTokens: 40_000 };
    // 10,000 x 2 + 40,000 x 0.50 + 2,000 x 8 = 20,000 + 20,000 + 16,000 = 56,000 per million.
    assertClose(pricing.cost('openai', 'gpt-4.1', usage), 0.056);
  });

  test('Anthropic Claude Sonnet 4 with cache read and cache write: input $3, 5-minute cache write $3.75, cache read $0.30, output $15', () => {
    // Anthropic's usage: input_tokens 1,000, cache_creation_input_tokens 4,000,
    // cache_read_input_tokens 20,000, output_tokens 800; promptTokens holds all three inputs.
    const usage: Usage = { promptTokens: 25_000, completionTokens: 800, cacheReadTokens: 20_000, cacheWriteTokens: 4_000 };
    // 1,000 x 3 + 4,000 x 3.75 + 20,000 x 0.30 + 800 x 15 = 3,000 + 15,000 + 6,000 + 12,000 = 36,000.
    const cost = pricing.cost('anthropic', 'claude-sonnet-4-20250514', usage);
    assertClose(cost, 0.036);
    // Charging the cache write as input as well (LiteLLM #9812, #11364) would add 4,000 x 3 = 12,000.
    assert.ok(Math.abs(cost! - 0.048) > 1e-6);
  });

  test('a reasoning model, OpenAI o4-mini: input $1.10, cached input $0.275, output $4.40, reasoning tokens at the output price', () => {
    // 2,000 prompt tokens (500 cached); 3,000 completion tokens of which 2,500 reasoning.
    const usage: Usage = { promptTokens: 2_000, completionTokens: 3_000, cacheReadTokens: 500, reasoningTokens: 2_500 };
    // 1,500 x 1.10 + 500 x 0.275 + 3,000 x 4.40 = 1,650 + 137.5 + 13,200 = 14,987.5 per million.
    assertClose(pricing.cost('openai', 'o4-mini', usage), 0.0149875);
  });

  test('Gemini 2.5 Pro below and above its 200k tier: $1.25 / $0.125 cached / $10 out, then $2.50 / $0.25 / $15 for the whole prompt', () => {
    // 100,000 prompt tokens, 1,000 out (thinking is billed as output): 100,000 x 1.25 + 1,000 x 10 = 135,000.
    assertClose(pricing.cost('gemini', 'gemini-2.5-pro', { promptTokens: 100_000, completionTokens: 1_000 }), 0.135);
    // 250,000 prompt tokens (50,000 cached), 4,000 out of which 1,000 thinking:
    // 200,000 x 2.50 + 50,000 x 0.25 + 4,000 x 15 = 500,000 + 12,500 + 60,000 = 572,500.
    const above: Usage = { promptTokens: 250_000, completionTokens: 4_000, cacheReadTokens: 50_000, reasoningTokens: 1_000 };
    assertClose(pricing.cost('gemini', 'gemini-2.5-pro', above), 0.5725);
    // Exactly 200,000 is still the first tier: 200,000 x 1.25 = 250,000.
    assertClose(pricing.cost('gemini', 'gemini-2.5-pro', { promptTokens: 200_000, completionTokens: 0 }), 0.25);
    // Google's compatible endpoint and model list name it `models/gemini-2.5-pro`.
    assertClose(pricing.cost('gemini', 'models/gemini-2.5-pro', above), 0.5725);
  });

  test('a Fireworks model by its resource path: Llama 3.1 8B Instruct at $0.20 in and out (4B-16B parameters)', () => {
    // 1,200 prompt + 300 completion tokens = 1,500 x 0.20 = 300 per million.
    const usage: Usage = { promptTokens: 1_200, completionTokens: 300 };
    assertClose(pricing.cost('fireworks', 'accounts/fireworks/models/llama-v3p1-8b-instruct', usage), 0.0003);
  });

  test('Bedrock model ids, with and without a cross-region inference profile: Claude 3.5 Haiku at $0.80 in, $1 cache write, $0.08 cache read, $4 out', () => {
    // 10,000 prompt tokens: 8,000 read from the cache, 1,000 written to it; 200 out.
    const usage: Usage = { promptTokens: 10_000, completionTokens: 200, cacheReadTokens: 8_000, cacheWriteTokens: 1_000 };
    // 1,000 x 0.80 + 1,000 x 1 + 8,000 x 0.08 + 200 x 4 = 800 + 1,000 + 640 + 800 = 3,240.
    assertClose(pricing.cost('bedrock', 'us.anthropic.claude-3-5-haiku-20241022-v1:0', usage), 0.00324);
    assertClose(pricing.cost('bedrock', 'anthropic.claude-3-5-haiku-20241022-v1:0', usage), 0.00324);
    // Claude Sonnet 4 on Bedrock: $3 in, $15 out. 2,000 x 3 + 100 x 15 = 7,500.
    assertClose(pricing.cost('bedrock', 'anthropic.claude-sonnet-4-20250514-v1:0', { promptTokens: 2_000, completionTokens: 100 }), 0.0075);
  });

  test('a price by the hour: DeepSeek\'s reasoner at $0.55 in, $0.14 cache hit, $2.19 out, and $0.135, $0.035, $0.55 off-peak (16:30-00:30 UTC)', () => {
    // 10,000 prompt tokens (4,000 cache hits), 1,000 out of which 800 reasoning.
    const usage: Usage = { promptTokens: 10_000, completionTokens: 1_000, cacheReadTokens: 4_000, reasoningTokens: 800 };
    const at = (time: string) => createPricing({ prices: [], providerSpecs }, () => Date.parse(`2025-07-01T${time}Z`));
    // Peak: 6,000 x 0.55 + 4,000 x 0.14 + 1,000 x 2.19 = 3,300 + 560 + 2,190 = 6,050.
    assertClose(at('10:00:00').cost('deepseek', 'deepseek-reasoner', usage), 0.00605);
    // Off-peak, either side of midnight: 6,000 x 0.135 + 4,000 x 0.035 + 1,000 x 0.55 = 810 + 140 + 550 = 1,500.
    assertClose(at('17:00:00').cost('deepseek', 'deepseek-reasoner', usage), 0.0015);
    assertClose(at('00:15:00').cost('deepseek', 'deepseek-reasoner', usage), 0.0015);
    assertClose(at('00:30:00').cost('deepseek', 'deepseek-reasoner', usage), 0.00605);
  });
});

describe('no price is undefined, never 0', () => {
  const usage: Usage = { promptTokens: 1_000, completionTokens: 100 };

  test('a model the table does not know, a provider it has no prices for, a self-hosted server', () => {
    assert.equal(pricing.cost('openai', 'no-such-model-anywhere', usage), undefined);
    assert.equal(pricing.cost('deepinfra', 'meta-llama/Meta-Llama-3.1-8B-Instruct', usage), undefined);
    assert.equal(pricing.cost('vllm', 'my-llama-70b', usage), undefined);
    assert.equal(pricing.cost('ollama', 'llama3.2', usage), undefined);
    // A provider named like an Object.prototype member is no provider of the table.
    assert.equal(pricing.cost('constructor', 'gpt-4o', usage), undefined);
  });

  test('an unknown model stays unpriced when asked again (the answer is cached)', () => {
    assert.equal(pricing.cost('openai', 'no-such-model-anywhere', usage), undefined);
  });
});

describe('the config file\'s prices', () => {
  test('a self-hosted model priced at 0 costs 0, which is a price', () => {
    const own = createPricing({ prices: [override({ provider: 'vllm', model: 'my-llama-70b', input: 0, output: 0 })], providerSpecs });
    assert.equal(own.cost('vllm', 'my-llama-70b', { promptTokens: 5_000, completionTokens: 700 }), 0);
    assert.equal(own.cost('vllm', 'another-model', { promptTokens: 5_000, completionTokens: 700 }), undefined);
  });

  test('a price replaces the table\'s: gpt-4o at a negotiated $2 in, $0.50 cached, $8 out, $20 reasoning', () => {
    const own = createPricing({
      prices: [override({ provider: 'openai', model: 'gpt-4o', input: 2, output: 8, cacheRead: 0.5, reasoning: 20 })],
      providerSpecs,
    });
    const usage: Usage = { promptTokens: 10_000, completionTokens: 500, cacheReadTokens: 6_000, reasoningTokens: 100 };
    // 4,000 x 2 + 6,000 x 0.50 + 400 x 8 + 100 x 20 = 8,000 + 3,000 + 3,200 + 2,000 = 16,200.
    assertClose(own.cost('openai', 'gpt-4o', usage), 0.0162);
    // The table still prices the rest: gpt-4.1 at $2 in, $0.50 cached, $8 out (reasoning at output).
    // 4,000 x 2 + 6,000 x 0.50 + 500 x 8 = 15,000.
    assertClose(own.cost('openai', 'gpt-4.1', usage), 0.015);
  });

  test('cache prices absent from an entry fall back to its input price; a cache write is priced once', () => {
    const own = createPricing({
      prices: [override({ provider: 'vllm', model: 'qwen', input: 1, output: 2 }), override({ provider: 'anthropic', model: 'claude-custom', input: 3, output: 15, cacheRead: 0.3, cacheWrite: 3.75 })],
      providerSpecs,
    });
    const usage: Usage = { promptTokens: 10_000, completionTokens: 1_000, cacheReadTokens: 3_000, cacheWriteTokens: 2_000 };
    // All 10,000 at $1, 1,000 at $2: 12,000.
    assertClose(own.cost('vllm', 'qwen', usage), 0.012);
    // 5,000 x 3 + 3,000 x 0.30 + 2,000 x 3.75 + 1,000 x 15 = 15,000 + 900 + 7,500 + 15,000 = 38,400.
    assertClose(own.cost('anthropic', 'claude-custom', usage), 0.0384);
  });

  test('patterns with *: the most specific wins, an exact name over any; a Fireworks short name is priced as routed', () => {
    const own = createPricing({
      prices: [
        override({ provider: 'vllm', model: '*', input: 0, output: 0 }),
        override({ provider: 'vllm', model: 'llama-*', input: 1, output: 1 }),
        override({ provider: 'vllm', model: 'llama-3-70b', input: 2, output: 2 }),
        override({ provider: 'fireworks', model: 'my-fine-tune', input: 0.5, output: 0.5 }),
      ],
      providerSpecs,
    });
    const usage: Usage = { promptTokens: 1_000_000, completionTokens: 0 };
    assert.equal(own.cost('vllm', 'mistral-7b', usage), 0);
    assertClose(own.cost('vllm', 'llama-3-8b', usage), 1);
    assertClose(own.cost('vllm', 'llama-3-70b', usage), 2);
    // Fireworks is asked for `accounts/fireworks/models/my-fine-tune` when a client says `my-fine-tune`.
    assertClose(own.cost('fireworks', 'accounts/fireworks/models/my-fine-tune', usage), 0.5);
  });

  test('read from the file: every field, and precise problems', () => {
    const dir = mkdtempSync(join(tmpdir(), 'gateway-prices-'));
    const good = join(dir, 'good.yaml');
    writeFileSync(
      good,
      `prices:
  - provider: vllm
    model: my-llama-70b
    input: 0
    output: 0
  - provider: anthropic
    model: claude-sonnet-4-20250514
    input: 2.5
    output: 12
    cache_read: 0.25
    cache_write: 3
    reasoning: 12
`,
    );
    const config = loadConfig({ VLLM_BASE_URL: 'http://127.0.0.1:9' }, { configFile: good });
    assert.deepEqual(config.prices, [
      { provider: 'vllm', model: 'my-llama-70b', input: 0, output: 0, cacheRead: undefined, cacheWrite: undefined, reasoning: undefined },
      { provider: 'anthropic', model: 'claude-sonnet-4-20250514', input: 2.5, output: 12, cacheRead: 0.25, cacheWrite: 3, reasoning: 12 },
    ]);
    const fromFile = createPricing(config);
    assert.equal(fromFile.cost('vllm', 'my-llama-70b', { promptTokens: 10, completionTokens: 10 }), 0);
    // 1,000 x 2.5 + 1,000 x 0.25 + 1,000 x 3 + 1,000 x 12 = 17,750.
    assertClose(fromFile.cost('anthropic', 'claude-sonnet-4-20250514', { promptTokens: 3_000, completionTokens: 1_000, cacheReadTokens: 1_000, cacheWriteTokens: 1_000 }), 0.01775);

    const bad = join(dir, 'bad.yaml');
    writeFileSync(
      bad,
      `prices:
  - provider: nosuch
    model: m
    input: 1
    output: 1
  - provider: openai
    model: gpt-4o
    input: -1
    output: 1
  - provider: openai
    model: gpt-4o
    input: 1
  - provider: openai
    model: gpt-4.1
    input: 1
    output: 1
    cache_reads: 1
  - provider: openai
    model: "has space"
    input: 1
    output: 1
  - provider: openai
    model: o3
    input: 1
    output: 1
  - provider: openai
    model: o3
    input: 2
    output: "two"
  - provider: openai
    model: o3
    input: 2
    output: 2
`,
    );
    let problems: readonly string[] = [];
    try {
      loadConfig({}, { configFile: bad });
    } catch (err) {
      assert.ok(err instanceof ConfigError);
      problems = err.problems;
    }
    assert.deepEqual(problems, [
      `${bad}:2: prices[0].provider: unknown provider "nosuch"; known: ${providerSpecs.map((spec) => spec.name).join(', ')}`,
      `${bad}:8: prices[1].input: must not be negative`,
      `${bad}:10: prices[2].output: must be a price in USD per million tokens, got nothing`,
      `${bad}:17: prices[3].cache_reads: unknown key; known: provider, model, input, output, cache_read, cache_write, reasoning`,
      `${bad}:19: prices[4].model: must be a model name (visible ASCII, no spaces, quotes or backslashes), or a pattern of them with "*"`,
      `${bad}:29: prices[6].output: must be a price in USD per million tokens, got "two"`,
      `${bad}:31: prices[7].model: openai "o3" is priced twice`,
    ]);
  });
});

describe('start-up', () => {
  test('the package is loaded on the first model it prices, not when the gateway starts nor for a price of the file', () => {
    // A process of its own: this one has loaded the package already.
    const script = `
      import { createRequire } from 'node:module';
      import { createPricing } from './dist/src/observe/prices.js';
      import { providerSpecs } from './dist/src/providers/index.js';
      const loaded = () => Object.keys(createRequire(import.meta.url).cache).some((path) => path.includes('genai-prices'));
      const pricing = createPricing({ prices: [{ provider: 'vllm', model: 'm', input: 1, output: 1 }], providerSpecs });
      const before = loaded();
      const own = pricing.cost('vllm', 'm', { promptTokens: 1000000, completionTokens: 0 });
      const afterOwn = loaded();
      const table = pricing.cost('openai', 'gpt-4o', { promptTokens: 1000000, completionTokens: 0 });
      console.log(JSON.stringify([before, own, afterOwn, table, loaded()]));`;
    const out = execFileSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8' });
    // gpt-4o's input: $2.50 per million.
    assert.deepEqual(JSON.parse(out), [false, 1, false, 2.5, true]);
  });
});

describe('the documentation', () => {
  /** The body of the first yaml block after `heading` in `doc`, in a file of its own. */
  function example(doc: string, heading: string): string {
    const text = readFileSync(doc, 'utf8');
    const from = text.indexOf(heading);
    const start = text.indexOf('```yaml\n', from) + '```yaml\n'.length;
    assert.ok(from >= 0 && start > from, `a yaml block after ${heading} in ${doc}`);
    const path = join(mkdtempSync(join(tmpdir(), 'gateway-prices-doc-')), 'gateway.yaml');
    writeFileSync(path, text.slice(start, text.indexOf('```', start)));
    return path;
  }

  test('docs/CONFIGURATION.md\'s prices load and price as they say', () => {
    const documented = createPricing(loadConfig({}, { configFile: example('docs/CONFIGURATION.md', '#### Prices') }));
    const usage: Usage = { promptTokens: 10_000, completionTokens: 1_000, cacheReadTokens: 4_000, cacheWriteTokens: 2_000, reasoningTokens: 500 };
    assert.equal(documented.cost('vllm', 'my-llama-70b', usage), 0);
    assert.equal(documented.cost('ollama', 'llama3.2', usage), 0);
    // 4,000 x 2.7 + 4,000 x 0.27 + 2,000 x 3.375 + 500 x 13.5 + 500 x 13.5 = 10,800 + 1,080 + 6,750 + 13,500 = 32,130.
    assertClose(documented.cost('anthropic', 'claude-sonnet-4-5', usage), 0.03213);
  });

  test('docs/observability.md\'s override loads', () => {
    const documented = createPricing(loadConfig({}, { configFile: example('docs/observability.md', '**Overrides.**') }));
    assert.equal(documented.cost('vllm', 'my-llama-70b', { promptTokens: 1, completionTokens: 1 }), 0);
  });
});

describe('agreement with the package', () => {
  test('for every model of every provider mapped, the cost equals the package\'s calcPrice for the same usage', () => {
    const genai = createRequire(import.meta.url)('@pydantic/genai-prices') as typeof GenaiPrices;
    const now = Date.parse('2025-07-01T12:00:00Z');
    const fixed = createPricing({ prices: [], providerSpecs }, () => now);
    // Above every tier in the table (Gemini's and Anthropic's start at 128k or 200k).
    const usage: Usage = { promptTokens: 300_000, completionTokens: 5_000, cacheReadTokens: 100_000, cacheWriteTokens: 20_000, reasoningTokens: 2_000 };
    let compared = 0;
    for (const [provider, providerId] of PACKAGE_PROVIDER_IDS) {
      const models = genai.findProvider({ providerId })?.models ?? [];
      assert.ok(models.length > 0, `the package prices ${providerId}`);
      for (const model of models) {
        const ours = fixed.cost(provider, model.id, usage);
        let theirs: GenaiPrices.PriceCalculationResult;
        try {
          theirs = genai.calcPrice(
            { input_tokens: 300_000, cache_read_tokens: 100_000, cache_write_tokens: 20_000, output_tokens: 5_000, output_reasoning_tokens: 2_000 },
            model.id,
            { providerId, timestamp: new Date(now) },
          );
        } catch {
          assert.equal(ours, undefined, `${provider} ${model.id}: the package cannot price it`);
          continue;
        }
        const price = theirs?.model_price;
        if (theirs === null || price === undefined || price.input_mtok === undefined || price.output_mtok === undefined) {
          // Not priced by the token both ways (images, audio by the hour, embeddings): no price for an answer with output.
          assert.equal(ours, undefined, `${provider} ${model.id}`);
          continue;
        }
        assert.ok(ours !== undefined, `${provider} ${model.id}: priced by the package`);
        assert.ok(Math.abs(ours - theirs.total_price) <= 1e-9 * Math.max(1, theirs.total_price), `${provider} ${model.id}: ${ours} against ${theirs.total_price}`);
        compared++;
      }
    }
    assert.ok(compared > 500, `compared ${compared} models`);
  });
});

describe('warm-up', () => {
  test('a gateway started as a user starts it loads the price table once it listens, before any answer', async () => {
    const gateway = await startGatewayProcess({ FIREWORKS_BASE_URL: 'http://127.0.0.1:9', LOG_LEVEL: 'debug' });
    try {
      await until(() => gateway.output().includes('price table loaded'), 5_000);
      assert.ok(!gateway.output().includes('"msg":"request"'), 'no request was made');
    } finally {
      gateway.child.kill('SIGTERM');
      await gateway.exited;
    }
  });
});
