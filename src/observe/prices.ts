// The price of an answer in USD, from the price table of @pydantic/genai-prices (0.1.8, MIT; its
// bundled data only, nothing is fetched) under the config file's `prices`, which win. A model's
// price is resolved once per provider and model and kept: pricing an answer is two Map lookups
// and a few multiplications.
import { createRequire } from 'node:module';
import { performance } from 'node:perf_hooks';
import type { Logger } from '../logger.js';
import type * as GenaiPrices from '@pydantic/genai-prices';
import { WILDCARD, isPattern, matchesPattern } from '../aliases.js';
import type { Config, PriceOverride } from '../config.js';
import type { Usage } from '../stream.js';
import type { Pricing } from './records.js';

/**
 * Our providers' names and the package's ids for them. deepinfra, ollama, vllm and a team's own
 * providers have none: the config file's `prices` alone price their models.
 */
export const PACKAGE_PROVIDER_IDS: ReadonlyMap<string, string> = new Map([
  ['openai', 'openai'],
  ['anthropic', 'anthropic'],
  ['bedrock', 'aws'],
  ['azure', 'azure'],
  ['gemini', 'google'],
  ['fireworks', 'fireworks'],
  ['groq', 'groq'],
  ['mistral', 'mistral'],
  ['deepseek', 'deepseek'],
  ['xai', 'x-ai'],
  ['together', 'together'],
  ['openrouter', 'openrouter'],
  ['cerebras', 'cerebras'],
  ['perplexity', 'perplexity'],
]);

/** The models whose price (or its absence) stays cached per provider: model names come from clients. */
export const MAX_CACHED_MODELS = 1_024;

/** Prices are per million tokens. */
const TOKENS_PER_PRICE = 1e6;
/** The package prices requests per thousand (`requests_kcount`). */
const REQUESTS_PER_PRICE = 1e3;
const MS_PER_DAY = 86_400_000;
const SECONDS_PER_DAY = 86_400;
/** Google's OpenAI-compatible endpoint and its model list name models `models/<name>`; the table names them bare. */
const GEMINI_MODEL_PREFIX = 'models/';
/** A time of day as the package writes it: `16:30:00Z`, `08:00:00+08:00`. */
const TIME_OF_DAY = /^(\d{2}):(\d{2}):(\d{2})(\.\d+)?(?:Z|([+-])(\d{2}):(\d{2}))$/;
/** A usage that prices nothing: enough for the package to find a model. */
const NO_USAGE: GenaiPrices.Usage = Object.freeze({ input_tokens: 0, output_tokens: 0 });

/** USD per million tokens: one price, or one per tier of the prompt's size. */
type Rate = number | Tiers;

interface Tiers {
  readonly base: number;
  /** Ascending by start: a prompt of more than `start` tokens is priced at `price`, all of it. */
  readonly tiers: readonly { readonly start: number; readonly price: number }[];
}

/** A model's prices; an absent one is unknown, and an answer that needs it has no price. */
interface Rates {
  readonly input: Rate | undefined;
  readonly output: Rate | undefined;
  /** Absent: cache reads cost `input`. */
  readonly cacheRead: Rate | undefined;
  /** Absent: cache writes cost `input`. */
  readonly cacheWrite: Rate | undefined;
  /** Absent: reasoning tokens cost `output`. */
  readonly reasoning: Rate | undefined;
  /** USD per request (Perplexity's request fee). */
  readonly perRequest: number;
}

/** Rates that hold from a date, or in a span of the day (UTC), as the package's ConditionalPrice. */
interface Variant {
  readonly rates: Rates;
  /** Epoch ms from which the rates hold. */
  readonly from: number | undefined;
  /** Seconds of the UTC day, [start, end); end before start spans midnight. */
  readonly day: { readonly start: number; readonly end: number } | undefined;
}

/** A resolved price: fixed rates, or variants chosen at the answer's time. */
interface Price {
  readonly rates: Rates | undefined;
  readonly variants: readonly Variant[] | undefined;
}

interface OverridePattern {
  readonly parts: readonly string[];
  /** The characters that are not `*`: the more, the more specific. */
  readonly literal: number;
  readonly price: Price;
}

interface ProviderOverrides {
  readonly exact: Map<string, Price>;
  /** Most specific first. */
  readonly patterns: OverridePattern[];
}

let packageTable: typeof GenaiPrices | undefined;

/**
 * The package, loaded on the first model it has to price: loading it costs about 35 ms and 20 MB
 * once (docs/observability.md), which a gateway that prices nothing from it does not pay.
 */
function genaiPrices(): typeof GenaiPrices {
  packageTable ??= createRequire(import.meta.url)('@pydantic/genai-prices') as typeof GenaiPrices;
  return packageTable;
}

/**
 * Loads the package now, when a configured provider is priced from it: the gateway calls this once
 * it listens, so that the first priced answer does not wait for the load.
 */
export function warmPriceTable(providers: Iterable<string>, logger: Logger): void {
  for (const provider of providers) {
    if (PACKAGE_PROVIDER_IDS.has(provider)) {
      const started = performance.now();
      genaiPrices();
      logger.debug({ ms: Math.round(performance.now() - started) }, 'price table loaded');
      return;
    }
  }
}

/** The price in effect at `now` among `variants`, chosen as the package's calcPrice chooses it: the last that holds, else the first. */
function ratesAt(variants: readonly Variant[], now: number): Rates {
  const second = (now % MS_PER_DAY) / 1000;
  for (let i = variants.length - 1; i >= 0; i--) {
    const variant = variants[i]!;
    const day = variant.day;
    if (variant.from !== undefined) {
      if (now >= variant.from) return variant.rates;
    } else if (day !== undefined) {
      const inside = day.end < day.start ? second >= day.start || second < day.end : second >= day.start && second < day.end;
      if (inside) return variant.rates;
    } else {
      return variant.rates;
    }
  }
  return variants[0]!.rates;
}

function rateAt(rate: Rate | undefined, promptTokens: number): number {
  if (typeof rate === 'number') return rate;
  if (rate === undefined) return Number.NaN;
  let price = rate.base;
  for (const tier of rate.tiers) if (promptTokens > tier.start) price = tier.price;
  return price;
}

/** `tokens` at `rate`; no tokens cost nothing, even at an unknown (NaN) rate. */
function part(tokens: number, rate: number): number {
  return tokens > 0 ? tokens * rate : 0;
}

/** USD for `usage` at `rates`; undefined when a part of it has no known rate. */
function costOf(rates: Rates, usage: Usage): number | undefined {
  const prompt = usage.promptTokens;
  const cacheRead = usage.cacheReadTokens ?? 0;
  const cacheWrite = usage.cacheWriteTokens ?? 0;
  const reasoning = usage.reasoningTokens ?? 0;
  // A tier is chosen by the whole prompt, cached tokens included, as Google and Anthropic price it.
  const input = rateAt(rates.input, prompt);
  const output = rateAt(rates.output, prompt);
  // Cache reads and writes are parts of promptTokens: each token is priced once, at its part's
  // rate, so a cache write is not charged as input too (LiteLLM #9812, #11364).
  const total =
    part(prompt - cacheRead - cacheWrite, input) +
    part(cacheRead, rates.cacheRead === undefined ? input : rateAt(rates.cacheRead, prompt)) +
    part(cacheWrite, rates.cacheWrite === undefined ? input : rateAt(rates.cacheWrite, prompt)) +
    part(usage.completionTokens - reasoning, output) +
    part(reasoning, rates.reasoning === undefined ? output : rateAt(rates.reasoning, prompt));
  return Number.isNaN(total) ? undefined : total / TOKENS_PER_PRICE + rates.perRequest;
}

function rateOf(value: number | GenaiPrices.TieredPrices | undefined): Rate | undefined {
  if (value === undefined || typeof value === 'number') return value;
  return { base: value.base, tiers: [...value.tiers].sort((a, b) => a.start - b.start) };
}

/** A model's token rates from the package; undefined when it prices no tokens (audio by the hour, pages). */
function ratesOf(price: GenaiPrices.ModelPrice): Rates | undefined {
  const input = rateOf(price.input_mtok);
  const output = rateOf(price.output_mtok);
  if (input === undefined && output === undefined) return undefined;
  const requests = price.requests_kcount;
  return {
    input,
    output,
    cacheRead: rateOf(price.cache_read_mtok),
    cacheWrite: rateOf(price.cache_write_mtok),
    reasoning: rateOf(price.output_reasoning_mtok),
    perRequest: typeof requests === 'number' ? requests / REQUESTS_PER_PRICE : 0,
  };
}

/** Seconds of the UTC day at a time of day such as `16:30:00Z`; undefined when it is not one. */
function utcSecondOf(time: string): number | undefined {
  const match = TIME_OF_DAY.exec(time);
  if (match === null) return undefined;
  const [, hours, minutes, seconds, fraction, sign, offsetHours, offsetMinutes] = match;
  const local = Number(hours) * 3600 + Number(minutes) * 60 + Number(seconds) + (fraction === undefined ? 0 : Number(fraction));
  const offset = sign === undefined ? 0 : (sign === '+' ? 1 : -1) * (Number(offsetHours) * 3600 + Number(offsetMinutes) * 60);
  return (local - offset + SECONDS_PER_DAY) % SECONDS_PER_DAY;
}

function variantOf(conditional: GenaiPrices.ConditionalPrice): Variant | undefined {
  const rates = ratesOf(conditional.prices);
  if (rates === undefined) return undefined;
  const constraint = conditional.constraint;
  if (constraint === undefined) return { rates, from: undefined, day: undefined };
  if (constraint.type === 'start_date') {
    const from = Date.parse(`${constraint.start_date}T00:00:00Z`);
    return Number.isNaN(from) ? undefined : { rates, from, day: undefined };
  }
  const start = utcSecondOf(constraint.start_time);
  const end = utcSecondOf(constraint.end_time);
  return start === undefined || end === undefined ? undefined : { rates, from: undefined, day: { start, end } };
}

/** The package's price for a model, or null when it has none for tokens. */
function packagePrice(providerId: string, model: string): Price | null {
  let found: GenaiPrices.PriceCalculationResult;
  try {
    found = genaiPrices().calcPrice(NO_USAGE, model, { providerId });
  } catch {
    // A price the package itself cannot compute (a malformed entry) is no price.
    return null;
  }
  if (found === null) return null;
  const prices = found.model.prices;
  if (!Array.isArray(prices)) {
    const rates = ratesOf(prices);
    return rates === undefined ? null : { rates, variants: undefined };
  }
  const variants: Variant[] = [];
  for (const conditional of prices) {
    const variant = variantOf(conditional);
    if (variant === undefined) return null;
    variants.push(variant);
  }
  return variants.length === 0 ? null : { rates: undefined, variants };
}

/** The model name the package knows a provider's model by. */
function packageModelName(provider: string, model: string): string {
  return provider === 'gemini' && model.startsWith(GEMINI_MODEL_PREFIX) ? model.slice(GEMINI_MODEL_PREFIX.length) : model;
}

function overridePrice(entry: PriceOverride): Price {
  return {
    rates: { input: entry.input, output: entry.output, cacheRead: entry.cacheRead, cacheWrite: entry.cacheWrite, reasoning: entry.reasoning, perRequest: 0 },
    variants: undefined,
  };
}

class PriceTable implements Pricing {
  private readonly overrides = new Map<string, ProviderOverrides>();
  /** Per provider, each model's price as resolved, null for none. */
  private readonly resolved = new Map<string, Map<string, Price | null>>();

  constructor(
    config: Pick<Config, 'prices' | 'providerSpecs'>,
    private readonly now: () => number,
  ) {
    for (const entry of config.prices) {
      let overrides = this.overrides.get(entry.provider);
      if (overrides === undefined) {
        overrides = { exact: new Map(), patterns: [] };
        this.overrides.set(entry.provider, overrides);
      }
      const price = overridePrice(entry);
      if (isPattern(entry.model)) {
        const parts = entry.model.split(WILDCARD);
        overrides.patterns.push({ parts, literal: entry.model.length - (parts.length - 1), price });
      } else {
        // A price names the model as a client may: expanded as requests are (a Fireworks short name).
        const mapModel = config.providerSpecs.find((spec) => spec.name === entry.provider)?.mapModel;
        overrides.exact.set(mapModel === undefined ? entry.model : mapModel(entry.model), price);
      }
    }
    // Array.prototype.sort is stable: among equally specific patterns the first declared stays first.
    for (const overrides of this.overrides.values()) overrides.patterns.sort((a, b) => b.literal - a.literal);
  }

  cost(provider: string, model: string, usage: Usage): number | undefined {
    let models = this.resolved.get(provider);
    if (models === undefined) {
      models = new Map();
      this.resolved.set(provider, models);
    }
    let price = models.get(model);
    if (price === undefined) {
      price = this.resolve(provider, model);
      // The oldest entry goes first: a flood of names costs a lookup each, never unbounded memory.
      if (models.size >= MAX_CACHED_MODELS) models.delete(models.keys().next().value!);
      models.set(model, price);
    }
    if (price === null) return undefined;
    return costOf(price.rates ?? ratesAt(price.variants!, this.now()), usage);
  }

  private resolve(provider: string, model: string): Price | null {
    const overrides = this.overrides.get(provider);
    if (overrides !== undefined) {
      const exact = overrides.exact.get(model);
      if (exact !== undefined) return exact;
      for (const pattern of overrides.patterns) if (matchesPattern(pattern.parts, model)) return pattern.price;
    }
    const providerId = PACKAGE_PROVIDER_IDS.get(provider);
    return providerId === undefined ? null : packagePrice(providerId, packageModelName(provider, model));
  }
}

/**
 * The gateway's Pricing: the config file's `prices`, then the package's table. `now` (epoch ms)
 * chooses among prices that change with the date or the hour.
 */
export function createPricing(config: Pick<Config, 'prices' | 'providerSpecs'>, now: () => number = Date.now): Pricing {
  return new PriceTable(config, now);
}
