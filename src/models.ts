// `GET /v1/models` without `x-provider`: the config file's exact model aliases (model pickers offer
// them; a pattern is no model), then the union of every provider that has a server-side key, each
// id prefixed `provider/` (the name routes back to it), fetched concurrently within a short
// timeout. A provider that fails is left out of the list and named in the log.
import { isPattern, type ModelAliases } from './aliases.js';
import type { Exchange, Provider } from './exchange.js';
import type { Logger } from './logger.js';
import { redactCredentials } from './redact.js';

/** How long one provider may take to list its models before it is left out. */
const LIST_TIMEOUT_MS = 5_000;
/** The most of one provider's list the gateway reads. */
const MAX_LIST_BYTES = 4 * 1024 * 1024;

interface ModelEntry {
  id: string;
  object: 'model';
  created: number;
  owned_by: string;
}

interface ProviderDirectory {
  readonly providers: ReadonlyMap<string, Provider>;
  readonly modelAliases: ModelAliases;
  /** The config file's routes: their exact names are models a client may ask for. */
  readonly routes: { readonly all: readonly { readonly name: string }[] };
  /** Configured secrets, kept out of log lines. */
  readonly secrets: readonly string[];
}

export class ModelLists {
  /** When the aliases came to be: the gateway's start, in the ISO form Anthropic's list uses. */
  private readonly startedAt = new Date().toISOString().replace(/\.\d{3}Z$/, 'Z');
  /** The aliases in OpenAI's list shape, owned by the provider their target names (else the gateway); made once. */
  private readonly aliasEntries: ModelEntry[];

  constructor(
    private readonly gateway: ProviderDirectory,
    private readonly logger: Logger,
  ) {
    const created = Math.floor(Date.now() / 1000);
    this.aliasEntries = gateway.modelAliases.entries.map(([id, target]) => {
      const slash = target.indexOf('/');
      const prefix = slash > 0 ? target.slice(0, slash).toLowerCase() : '';
      return { id, object: 'model', created, owned_by: gateway.providers.has(prefix) ? prefix : 'ai-gateway' };
    });
    // A route serves from several providers: the gateway owns it. A pattern is no model to list.
    for (const route of gateway.routes.all) {
      if (!isPattern(route.name)) this.aliasEntries.push({ id: route.name, object: 'model', created, owned_by: 'ai-gateway' });
    }
  }

  /** Answers the exchange with every keyed provider's models. */
  async answerUnion(ex: Exchange): Promise<void> {
    const keyed = [...this.gateway.providers.values()].filter((provider) => provider.serverCredential !== undefined);
    const lists = await Promise.all(
      keyed.map((provider) =>
        this.list(provider).catch((err: unknown) => {
          this.logger.warn(
            { reqId: ex.id, provider: provider.name, err: redactCredentials(String((err as Error)?.message ?? err), [], this.gateway.secrets) },
            'model list left out: the provider did not list its models',
          );
          return [] as ModelEntry[];
        }),
      ),
    );
    const body = JSON.stringify({ object: 'list', data: [...this.aliasEntries, ...lists.flat()] });
    ex.status = 200;
    ex.res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), 'x-request-id': ex.id });
    ex.res.end(body);
  }

  /**
   * For a client of Anthropic's API (it sends `anthropic-version`) served by another provider: the
   * config file's model aliases as Anthropic's model list
   * (https://platform.claude.com/docs/en/api/models-list), each named after the model behind it.
   * Claude Code's gateway model discovery reads this list and keeps the ids that start with
   * `claude` or `anthropic`, which is what aliases of its model names are.
   */
  answerAliases(ex: Exchange): void {
    const data = this.gateway.modelAliases.entries.map(([id, target]) => ({ type: 'model', id, display_name: `${id} (${target})`, created_at: this.startedAt }));
    const body = JSON.stringify({ data, has_more: false, first_id: data[0]?.id ?? null, last_id: data.at(-1)?.id ?? null });
    ex.status = 200;
    ex.res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), 'x-request-id': ex.id });
    ex.res.end(body);
  }

  /**
   * For a client of the Gemini API (`GET /v1beta/models`): the config file's model aliases in
   * Google's shape (https://ai.google.dev/api/models#Model), each named after the model behind it.
   */
  answerGeminiAliases(ex: Exchange): void {
    this.answerJson(ex, JSON.stringify({ models: this.gateway.modelAliases.entries.map(([id, target]) => geminiModel(id, target)) }));
  }

  /** `GET /v1beta/models/{model}`: any name is served (by its alias, or by the provider it routes to). */
  answerGeminiModel(ex: Exchange, model: string, target: string | undefined): void {
    this.answerJson(ex, JSON.stringify(geminiModel(model, target)));
  }

  private answerJson(ex: Exchange, body: string): void {
    ex.status = 200;
    ex.res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), 'x-request-id': ex.id });
    ex.res.end(body);
  }

  /** One provider's models in OpenAI's shape, ids prefixed with the provider's name. */
  private async list(provider: Provider): Promise<ModelEntry[]> {
    const spec = provider.spec;
    let path = '/models';
    let answer: ((body: string) => string) | undefined;
    if (spec.kind === 'translating') {
      if (spec.adapter.models === undefined) return [];
      path = spec.adapter.models.path;
      answer = spec.adapter.models.answer;
    } else {
      if (spec.upstreamPath !== undefined) path = spec.upstreamPath(path, undefined, provider);
      answer = spec.modelsAnswer;
    }
    const headers: Record<string, string> = { 'accept-encoding': 'identity' };
    if (provider.serverCredential !== undefined) headers[provider.serverCredential[0]] = provider.serverCredential[1];
    for (let i = 0; i < provider.headers.length; i += 2) headers[provider.headers[i]!] = provider.headers[i + 1]!;
    const response = await provider.pool.request({
      method: 'GET',
      path: provider.basePath + path,
      headers,
      signal: AbortSignal.timeout(LIST_TIMEOUT_MS),
    });
    let size = 0;
    const chunks: Buffer[] = [];
    for await (const chunk of response.body as AsyncIterable<Buffer>) {
      size += chunk.length;
      if (size > MAX_LIST_BYTES) {
        response.body.destroy();
        throw new Error(`the list is larger than ${MAX_LIST_BYTES} bytes`);
      }
      chunks.push(chunk);
    }
    if (response.statusCode !== 200) throw new Error(`HTTP ${response.statusCode}`);
    let text = Buffer.concat(chunks).toString('utf8');
    if (answer !== undefined) text = answer(text);
    const parsed = JSON.parse(text) as { data?: unknown };
    if (!Array.isArray(parsed.data)) throw new Error('the answer has no data list');
    const entries: ModelEntry[] = [];
    for (const item of parsed.data) {
      const model = item as { id?: unknown; created?: unknown; owned_by?: unknown };
      if (typeof model.id !== 'string') continue;
      entries.push({
        id: `${provider.name}/${model.id}`,
        object: 'model',
        created: typeof model.created === 'number' ? model.created : 0,
        owned_by: typeof model.owned_by === 'string' ? model.owned_by : provider.name,
      });
    }
    return entries;
  }
}

/** The Gemini methods the gateway serves for every model. */
const GEMINI_METHODS = Object.freeze(['generateContent', 'streamGenerateContent', 'countTokens']);

function geminiModel(id: string, target: string | undefined): Record<string, unknown> {
  return {
    name: id.startsWith('models/') ? id : `models/${id}`,
    baseModelId: id,
    version: '1',
    displayName: target === undefined ? id : `${id} (${target})`,
    description: target === undefined ? `${id}, served by the gateway` : `An alias of ${target}, served by the gateway`,
    supportedGenerationMethods: GEMINI_METHODS,
  };
}
