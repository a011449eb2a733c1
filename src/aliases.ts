// Model aliases (`model_aliases` in the config file) and the default model of each inbound API
// (`default_models`): which model serves a name a client sends. Patterns are compiled once here, at
// start-up; a request pays for a Map lookup, and for the patterns only when no exact name matched.

/** What a pattern's `*` stands for: any run of characters, none included. */
export const WILDCARD = '*';

/** The inbound APIs a default model may be set for (the keys of `default_models`), and their routes. */
export const DEFAULT_MODEL_APIS = {
  chat: '/v1/chat/completions',
  'anthropic-messages': '/v1/messages',
  'openai-responses': '/v1/responses',
  gemini: '/v1beta/models/{model}:generateContent',
} as const;
export type DefaultModelApi = keyof typeof DEFAULT_MODEL_APIS;

/** The most aliases a miss message lists; the rest are counted. */
const MAX_LISTED_ALIASES = 20;

interface Pattern {
  readonly name: string;
  readonly target: string;
  /** The text between the stars, in order: the first must start the name, the last end it. */
  readonly parts: readonly string[];
  /** The characters that are not `*`: the more, the more specific. */
  readonly literal: number;
}

/** Whether `name` is a pattern rather than an exact model name. */
export function isPattern(name: string): boolean {
  return name.includes(WILDCARD);
}

/**
 * Whether `model` matches a pattern split at its stars. Taking each middle part at its first
 * occurrence after the previous one is enough: a `*` on both sides of it can absorb any text, so
 * an earlier occurrence never rules out a match a later one would allow.
 */
export function matchesPattern(parts: readonly string[], model: string): boolean {
  const first = parts[0]!;
  const last = parts[parts.length - 1]!;
  if (model.length < first.length + last.length || !model.startsWith(first) || !model.endsWith(last)) return false;
  let at = first.length;
  const end = model.length - last.length;
  for (let i = 1; i < parts.length - 1; i++) {
    const found = model.indexOf(parts[i]!, at);
    if (found === -1 || found + parts[i]!.length > end) return false;
    at = found + parts[i]!.length;
  }
  return true;
}

export class ModelAliases {
  private readonly exact = new Map<string, string>();
  /** Most specific first: the longest literal text, then the one declared first. */
  private readonly patterns: readonly Pattern[];
  private readonly defaults: Readonly<Partial<Record<DefaultModelApi, string>>>;

  /** `aliases` in the order the file declares them, patterns among exact names. */
  constructor(aliases: ReadonlyMap<string, string>, defaults: Readonly<Partial<Record<DefaultModelApi, string>>> = {}) {
    const patterns: Pattern[] = [];
    for (const [name, target] of aliases) {
      if (!isPattern(name)) this.exact.set(name, target);
      else {
        const parts = name.split(WILDCARD);
        patterns.push({ name, target, parts, literal: name.length - (parts.length - 1) });
      }
    }
    // Array.prototype.sort is stable: among equally specific patterns the first declared stays first.
    this.patterns = patterns.sort((a, b) => b.literal - a.literal);
    this.defaults = defaults;
  }

  /** Whether the config file has any alias or default model. */
  get configured(): boolean {
    return this.exact.size > 0 || this.patterns.length > 0 || Object.keys(this.defaults).length > 0;
  }

  /** The exact aliases and their targets, in the file's order: what a model list offers (a pattern is no model). */
  get entries(): readonly (readonly [string, string])[] {
    return [...this.exact];
  }

  /** The model that serves `model`: an exact alias, else the most specific pattern that matches. */
  resolve(model: string): string | undefined {
    const exact = this.exact.get(model);
    if (exact !== undefined || this.patterns.length === 0) return exact;
    for (const pattern of this.patterns) if (matchesPattern(pattern.parts, model)) return pattern.target;
    return undefined;
  }

  /** The default model of an inbound API, for a request that names no provider and matched no alias. */
  defaultFor(api: DefaultModelApi): string | undefined {
    return this.defaults[api];
  }

  /**
   * Why a provider's 404 may have happened, for a model name that reached it unaliased: no alias
   * matched it, and which ones exist (a client whose model names are fixed, such as Claude Code,
   * needs one of them to match).
   */
  missMessage(quoted: string, api: DefaultModelApi | undefined): string {
    const all = [...this.exact.keys(), ...this.patterns.map((pattern) => pattern.name)];
    const where = api === undefined ? '' : ` or a default_models.${api} entry`;
    if (all.length === 0) {
      return `No model alias matched ${quoted}: the gateway has no model_aliases. Add one${where} to the config file to map the name to a provider's model.`;
    }
    const listed = all.slice(0, MAX_LISTED_ALIASES).join(', ');
    const more = all.length > MAX_LISTED_ALIASES ? ` and ${all.length - MAX_LISTED_ALIASES} more` : '';
    return `No model alias matched ${quoted} (model_aliases: ${listed}${more}). Add one${where} to the config file to map the name to a provider's model.`;
  }
}
