// Preparing a target's request: from the client's request, which is never edited, a request for one
// target (provider, model, key): its credential, headers, path, body and translation, all new. A
// route that fails over prepares its next target from the same client request, so the second
// target never sees the first one's edits (a renamed `max_tokens`, a model, inlined images).
import { CHAT_FACTS } from '../observe/facts.js';
import type { IncomingHttpHeaders } from 'node:http';
import { setImmediate as nextTurn } from 'node:timers/promises';
import type { Dispatcher } from 'undici';
import { withUsageRequested } from '../added-usage.js';
import type { AnswerTranslation } from '../attempt.js';
import { bodyLength, pacedBody, type BodyBytes } from '../body.js';
import type { Config } from '../config.js';
import { DEFAULT_AUTH, clientCredential, clientName, failureRedactor, nativeCredential } from '../credentials.js';
import { GatewayError, credentialOf } from '../errors.js';
import type { Exchange, Provider } from '../exchange.js';
import type { ImageFetcher } from '../images.js';
import { ComposedTranslator } from '../inbound/compose.js';
import { OPENAI_KEY_HINT } from '../inbound/index.js';
import { openAIResponses } from '../inbound/openai-responses/index.js';
import type { ItemMemory } from '../inbound/openai-responses/memory.js';
import { SharedItemMemory } from '../inbound/openai-responses/shared-memory.js';
import type { InboundRoute, InboundTranslation } from '../inbound/types.js';
import { replaceModel } from '../jsonbody.js';
import type { Logger } from '../logger.js';
import type { ChatTranslation, ProviderAdapter } from '../providers/types.js';
import { safeEcho, type Redactor } from '../redact.js';
import type { Target } from './target.js';

const CHAT_PATH = '/v1/chat/completions';
/** Where a translated inbound request goes on an OpenAI-compatible host, after its base path. */
const CHAT_UPSTREAM_PATH = '/chat/completions';
const MODELS_PATH = '/v1/models';
/** Where the Gemini API's models live; a Gemini request's path names its model after it. */
const GEMINI_MODEL_PREFIX = '/v1beta/models/';
/** How the Gemini API names a model as a resource (`models/gemini-2.5-flash`). */
const GEMINI_RESOURCE_PREFIX = 'models/';
const DROPPED_PARAMS_HEADER = 'x-gateway-dropped-params';
/**
 * The longest x-gateway-dropped-params value before the rest is counted: Node's HTTP clients refuse
 * an answer whose headers pass 16 KiB (HPE_HEADER_OVERFLOW), and a header names a few fields.
 */
export const MAX_DROPPED_PARAMS_CHARS = 512;
/** A position in a field's path (`[3]`), left out so that a field refused in every part is named once. */
const ARRAY_POSITION = /\[\d+\]/g;
const NO_HEADERS: readonly string[] = Object.freeze([]);
const NO_CLIENT_HEADERS: IncomingHttpHeaders = Object.freeze({});

type Mutable<T> = { -readonly [K in keyof T]: T[K] };

/** One target's request, ready for its attempts. */
export interface Prepared {
  readonly target: Target;
  readonly provider: Provider;
  /** The pool of the provider's base URL (or of its native API's); an adapter that signs may pick another per attempt. */
  readonly pool: Dispatcher;
  readonly method: Dispatcher.HttpMethod;
  readonly path: string;
  /** [name, value, ...]. */
  readonly headers: string[];
  readonly body: Dispatcher.DispatchOptions['body'];
  readonly translation: AnswerTranslation | undefined;
  /** The gateway added `stream_options.include_usage` to the client's chat stream: the usage chunk is the gateway's, not the client's. */
  readonly usageAdded: boolean;
  /** The client speaks the provider's own API: its bytes pass through, and so do the provider's errors. */
  readonly native: boolean;
  /** The credential sent (its secret part), to redact by value. */
  readonly secret: string | undefined;
  /** Signs each attempt (AWS SigV4); undefined where the credential is a header. */
  readonly authorize: ProviderAdapter['authorize'];
  /** What the latest attempt was signed with, to redact by value. */
  signingSecrets: readonly string[];
  /** The gateway's configured secrets, redacted by value too. */
  readonly configured: readonly string[];
}

/** The redaction of this target's failures: the client's credentials, the key sent, what it was signed with. */
export function redactorOf(ex: Exchange, prepared: Prepared): Redactor {
  return failureRedactor(ex.req.headers, prepared.secret, prepared.signingSecrets, prepared.configured);
}

/** What preparing needs of the gateway: settings and the services a translation uses. */
export interface PrepareServices {
  readonly config: Config;
  readonly logger: Logger;
  /** Decided once: building a debug record costs even when pino then drops it. */
  readonly debug: boolean;
  /** `1.1 ai-gateway-<id>`, added to `via`. */
  readonly via: string;
  readonly images: ImageFetcher;
  readonly outputItems: ItemMemory;
  /** The gateway's configured secrets (redact.ts configuredSecrets). */
  readonly secrets: readonly string[];
}

export class Preparer {
  constructor(private readonly services: PrepareServices) {}

  /**
   * The target's request, made from the client's without changing it. Throws the client's 4xx (or
   * rejects with it). A request whose bytes go as they came is prepared at once, without a promise:
   * only a translation waits (for turns of the event loop, for images).
   */
  prepare(ex: Exchange, target: Target): Prepared | Promise<Prepared> {
    const provider = target.provider;
    const spec = provider.spec;
    // A provider that signs its own requests (AWS SigV4) is given none of the core's key handling.
    const authorize = spec.kind === 'translating' ? spec.adapter.authorize : undefined;
    const auth = spec.auth ?? DEFAULT_AUTH;
    const credential: readonly [string, string] | undefined =
      authorize !== undefined
        ? undefined
        : target.key !== undefined
          ? [auth.header, auth.scheme ? `${auth.scheme} ${target.key}` : target.key]
          : target.gatewayKeysOnly
            ? provider.serverCredential
            : (clientCredential(ex.req.headers, provider) ?? provider.serverCredential);
    if (credential === undefined && !spec.keyOptional && authorize === undefined) {
      throw new GatewayError(
        401,
        `No API key for provider "${provider.name}". Send ${ex.api?.keyHint ?? OPENAI_KEY_HINT} ` +
          `or start the gateway with ${spec.apiKeyEnv} set.`,
        'missing_api_key',
      );
    }
    const api = ex.api;
    // The client speaks the provider's own API: its bytes pass through, nothing is translated.
    const native = api !== undefined && provider.nativeApis.has(api.name);
    // The client's body goes as it is to a pass-through provider, and to one that speaks its API.
    const clientBody = native || (api === undefined && spec.kind !== 'translating');
    // Google's API beside an OpenAI-compatible layer: another base and another key header.
    const nativeBase = native ? provider.nativeBase : undefined;
    // A client of the provider's own API keeps the header it sent its key in, unless the route names the key.
    const sent = native ? nativeCredential(target.gatewayKeysOnly ? NO_CLIENT_HEADERS : ex.req.headers, credential, spec) : credential;
    // The client's bytes, with the model this target names where it names another.
    let bytes = clientBody ? clientBytes(ex, target) : null;
    // A chat stream is asked for its usage where the client did not ask (and the host takes the option).
    let usageAdded = false;
    if (bytes !== null && spec.kind === 'pass-through' && spec.streamUsage === true && ex.facts?.stream === true && api === undefined && ex.path === CHAT_PATH) {
      const asked = withUsageRequested(bytes);
      if (asked !== undefined) {
        bytes = asked;
        usageAdded = true;
      }
    }
    const headers = this.upstreamHeaders(ex, provider, sent, native, bytes, target.headers);
    const body = (Array.isArray(bytes) ? pacedBody(bytes) : bytes) as Dispatcher.DispatchOptions['body'];
    const prepared: Mutable<Prepared> = {
      target,
      provider,
      pool: nativeBase?.pool ?? provider.pool,
      method: ex.method as Dispatcher.HttpMethod,
      path: '',
      headers,
      body,
      translation: undefined,
      usageAdded,
      native,
      secret: credential === undefined ? undefined : credentialOf(credential[1]),
      authorize,
      signingSecrets: NO_HEADERS,
      configured: this.services.secrets,
    };
    if (api !== undefined && !native) return this.prepareInbound(ex, target, api, prepared);
    if (nativeBase !== undefined) {
      // Google's API: the model as this target names it, then the client's method and query.
      prepared.path = nativeBase.basePath + (ex.modelInPath === undefined ? ex.upstreamPath : `${GEMINI_MODEL_PREFIX}${pathModel(target.model!)}${ex.modelInPath}`);
    } else if (native && spec.kind === 'translating') {
      // The provider's API under its base URL, at the client's own path (`/v1/messages`).
      prepared.path = provider.basePath + ex.path + (ex.upstreamPath.includes('?') ? ex.upstreamPath.slice(ex.upstreamPath.indexOf('?')) : '');
    } else if (spec.kind === 'translating') {
      if (ex.path === CHAT_PATH && ex.method === 'POST') return this.prepareChat(ex, target, prepared);
      if (ex.path === MODELS_PATH && ex.method === 'GET' && spec.adapter.models !== undefined) {
        const models = spec.adapter.models;
        prepared.path = provider.basePath + models.path;
        prepared.translation = { answer: (text) => ({ json: models.answer(text), usage: undefined }), framing: spec.adapter.framing, clientHeaders: NO_HEADERS };
      } else {
        throw new GatewayError(
          400,
          `Provider "${provider.name}" does not offer ${ex.method} ${safeEcho(ex.path, 200)}; it serves POST ${CHAT_PATH}` +
            `${spec.adapter.models !== undefined ? ` and GET ${MODELS_PATH}` : ''}${inboundRoutes(provider)}.`,
          'unsupported_route',
        );
      }
    } else {
      prepared.path = provider.basePath + (spec.upstreamPath === undefined ? ex.upstreamPath : spec.upstreamPath(ex.upstreamPath, target.model, provider));
      const modelsAnswer = spec.modelsAnswer;
      if (modelsAnswer !== undefined && ex.path === MODELS_PATH && ex.method === 'GET') {
        prepared.translation = { answer: (text) => ({ json: modelsAnswer(text), usage: undefined }), framing: 'sse', clientHeaders: NO_HEADERS };
      }
    }
    return prepared;
  }

  /** A client of another API (Messages, Responses, Gemini): its request as chat, then as the provider's API. */
  private async prepareInbound(ex: Exchange, target: Target, api: InboundRoute, prepared: Mutable<Prepared>): Promise<Prepared> {
    const provider = target.provider;
    const spec = provider.spec;
    const headers = prepared.headers;
    const redact = (): Redactor => redactorOf(ex, prepared);
    const inbound = await this.translateInbound(ex, target, api);
    if (spec.kind === 'translating') {
      const chat = await this.translateChat(ex, target, inbound.chat);
      prepared.path = prepared.authorize !== undefined ? chat.path : provider.basePath + chat.path;
      prepared.body = chat.body;
      for (const header of chat.headers) headers.push(header);
      prepared.translation = {
        answer: (text) => {
          // The provider's own counts: its cache writes have no place in the chat usage between the two.
          const fromProvider = chat.answer(text);
          return { json: inbound.answer(fromProvider.json).json, usage: fromProvider.usage };
        },
        stream: () => {
          const redactor = redact();
          return new ComposedTranslator(chat.stream(redactor), inbound.stream(redactor));
        },
        framing: spec.adapter.framing,
        facts: spec.adapter.facts,
        clientHeaders: inboundHeaders(ex, droppedHeader(inbound.refused.length === 0 ? chat.refused : [...inbound.refused, ...chat.refused])),
        streamContentType: inbound.streamContentType,
      };
    } else {
      prepared.path = provider.basePath + (spec.upstreamPath === undefined ? CHAT_UPSTREAM_PATH : spec.upstreamPath(CHAT_UPSTREAM_PATH, target.model, provider));
      const chat = inbound.chat;
      if (spec.refusesStreamOptions === true) delete chat.stream_options;
      if (spec.maxTokensParam === 'max_completion_tokens' && chat.max_tokens !== undefined) {
        chat.max_completion_tokens = chat.max_tokens;
        delete chat.max_tokens;
      }
      prepared.body = serialised(chat);
      prepared.translation = {
        answer: (text) => inbound.answer(text),
        stream: () => inbound.stream(redact()),
        framing: 'sse',
        facts: CHAT_FACTS,
        clientHeaders: inboundHeaders(ex, droppedHeader(inbound.refused)),
        streamContentType: inbound.streamContentType,
      };
    }
    headers.push('content-length', String(Buffer.byteLength(prepared.body as string)));
    return prepared;
  }

  /** A chat request for a provider that speaks another API (Anthropic's, Bedrock's): translated. */
  private async prepareChat(ex: Exchange, target: Target, prepared: Mutable<Prepared>): Promise<Prepared> {
    const provider = target.provider;
    const spec = provider.spec;
    if (spec.kind !== 'translating') throw new Error('not a translating provider');
    const chat = await this.translateChat(ex, target, await this.parseTranslated(ex, provider));
    prepared.path = prepared.authorize !== undefined ? chat.path : provider.basePath + chat.path;
    prepared.body = chat.body;
    prepared.headers.push('content-length', String(Buffer.byteLength(chat.body)));
    for (const header of chat.headers) prepared.headers.push(header);
    prepared.translation = {
      answer: (text) => chat.answer(text),
      stream: () => chat.stream(redactorOf(ex, prepared)),
      framing: spec.adapter.framing,
      facts: spec.adapter.facts,
      clientHeaders: droppedHeader(chat.refused),
    };
    return prepared;
  }

  /**
   * The request of a client that speaks another API (Anthropic's Messages, the Responses API,
   * Gemini's) as a chat request for the target; only the main route of that API can be translated.
   */
  private async translateInbound(ex: Exchange, target: Target, api: InboundRoute): Promise<InboundTranslation> {
    const { config, debug, logger, outputItems } = this.services;
    if (ex.method !== 'POST' || !(api.translates?.(ex.path) ?? ex.path === api.path)) {
      throw new GatewayError(400, api.notTranslated(ex.method, ex.path, target.provider.name), 'unsupported_route');
    }
    const body = await this.parseTranslated(ex, target.provider);
    // Behind several gateways, the items a Responses request refers to may have been kept by another.
    if (outputItems instanceof SharedItemMemory && api.name === openAIResponses.name) await outputItems.prefetch(clientName(ex.req.headers), body);
    const inbound = api.toChat(body, {
      model: ex.clientModel ?? target.model!,
      client: () => clientName(ex.req.headers),
      outputItems,
      bodyBytes: bodyLength(ex.body!),
      maxBodyBytes: config.MAX_BODY_BYTES,
      thinking: config.MESSAGES_THINKING,
      maxAnswerBytes: config.MAX_TRANSLATED_ANSWER_BYTES,
      hostedTools: config.RESPONSES_HOSTED_TOOLS,
      thoughtSignatures: target.provider.spec.kind === 'pass-through' && target.provider.spec.thoughtSignatures === true,
    });
    inbound.chat.model = target.model;
    if (debug && inbound.dropped.length > 0) {
      logger.debug({ reqId: ex.id, api: api.name, dropped: inbound.dropped }, 'request fields not translated');
    }
    if (Array.isArray(ex.body)) await yieldTurn(ex);
    return inbound;
  }

  /**
   * A body to translate, parsed. A large one (kept as chunks) is refused past
   * MAX_TRANSLATED_VALUES, and is decoded, parsed and translated each in a turn of the event loop
   * of its own, so that other clients are served in between: building the tree of a body of tiny
   * values is what holds the loop (the pass-through path never builds it).
   */
  private async parseTranslated(ex: Exchange, provider: Provider): Promise<Record<string, unknown>> {
    const body = ex.body!;
    if (!Array.isArray(body)) return JSON.parse(body.toString('utf8')) as Record<string, unknown>;
    const max = this.services.config.MAX_TRANSLATED_VALUES;
    if (ex.bodyValues > max) {
      throw new GatewayError(
        413,
        `The request body holds ${ex.bodyValues} JSON values; a request the gateway translates for provider "${provider.name}" ` +
          `may hold at most ${max} (MAX_TRANSLATED_VALUES). Send fewer messages or content parts.`,
        'request_too_large',
      );
    }
    const text = Buffer.concat(body).toString('utf8');
    await yieldTurn(ex);
    const parsed = JSON.parse(text) as Record<string, unknown>;
    await yieldTurn(ex);
    return parsed;
  }

  /** A chat request in the provider's API. */
  private async translateChat(ex: Exchange, target: Target, body: Record<string, unknown>): Promise<ChatTranslation> {
    const provider = target.provider;
    const spec = provider.spec;
    if (spec.kind !== 'translating') throw new Error('not a translating provider');
    if (spec.adapter.imageUrls === 'bytes' && this.services.images.enabled) await this.inlineImages(ex, body);
    let chat: ChatTranslation;
    try {
      chat = spec.adapter.chat(body, { model: target.model!, headers: ex.req.headers, options: provider.options });
    } catch (err) {
      throw tooLongToSend(err);
    }
    if (this.services.debug && (chat.dropped.length > 0 || chat.refused.length > 0)) {
      this.services.logger.debug({ reqId: ex.id, provider: provider.name, dropped: chat.dropped, refused: chat.refused }, 'request fields not sent');
    }
    return chat;
  }

  /**
   * The chat body's image URLs as the images' bytes, which count toward the body limit. The request
   * holds them (in the gateway's FETCH_IMAGE_TOTAL_BYTES) until its answer is written or its client
   * leaves: until then the body sent upstream is kept for a retry.
   */
  private async inlineImages(ex: Exchange, body: Record<string, unknown>): Promise<void> {
    const images = this.services.images;
    const found = images.findUrls(body);
    if (found.length === 0) return;
    const limit = this.services.config.MAX_BODY_BYTES;
    const fetching = new AbortController();
    ex.waiting = { cancel: () => fetching.abort(new GatewayError(400, 'The client closed the connection while its images were fetched.', 'client_closed')) };
    let held: number;
    try {
      held = await images.inline(found, limit - bodyLength(ex.body!), limit, fetching);
    } finally {
      ex.waiting = undefined;
    }
    // A response that closed already (the client left as the last image arrived) emits no more 'close'.
    if (ex.clientGone) images.release(held);
    else ex.res.once('close', () => images.release(held));
  }

  /**
   * What the provider needs and nothing more: the credential, the body's type, the provider's own
   * headers, the target's, and no compression (bytes pass through untouched and usage is read from
   * them). undici adds the provider's Host.
   */
  private upstreamHeaders(
    ex: Exchange,
    provider: Provider,
    credential: readonly [string, string] | undefined,
    native: boolean,
    clientBody: BodyBytes | null,
    targetHeaders: readonly string[],
  ): string[] {
    // A flat [name, value, ...] list: undici reads it without listing an object's keys.
    const incomingVia = ex.req.headers.via;
    const via = this.services.via;
    const headers = ['accept-encoding', 'identity', 'via', incomingVia === undefined ? via : `${incomingVia}, ${via}`];
    if (credential !== undefined) headers.push(credential[0], credential[1]);
    if (ex.contentType !== undefined) headers.push('content-type', ex.contentType);
    // undici measures a buffer itself; a list of chunks it would send chunked.
    // A translated body is a string, measured where it is made.
    if (Array.isArray(clientBody)) headers.push('content-length', String(bodyLength(clientBody)));
    const fixed = provider.headers;
    for (let i = 0; i < fixed.length; i += 2) {
      // A client of the provider's own API keeps its own value (its anthropic-version).
      const own = native ? ex.req.headers[fixed[i]!] : undefined;
      headers.push(fixed[i]!, typeof own === 'string' && own !== '' ? own : fixed[i + 1]!);
    }
    const spec = provider.spec;
    if (spec.forwardHeaders !== undefined) {
      for (const name of spec.forwardHeaders) {
        const value = ex.req.headers[name];
        if (typeof value === 'string') headers.push(name, value);
        else if (Array.isArray(value)) headers.push(name, value.join(', '));
      }
    }
    for (let i = 0; i < targetHeaders.length; i++) headers.push(targetHeaders[i]!);
    return headers;
  }
}

/**
 * The client's body for a target that takes it as it is: the bytes that came, or with the model
 * replaced in place where the target names it differently (nothing else of the body changes).
 */
function clientBytes(ex: Exchange, target: Target): BodyBytes | null {
  const body = ex.body;
  if (body === null || ex.facts === undefined || target.model === undefined || target.model === ex.facts.model) return body;
  return replaceModel(body, ex.facts, target.model, target.modelBytes);
}

/**
 * A model as a Gemini path names it: without the resource prefix (`models/gemini-2.5-flash` is
 * `gemini-2.5-flash`), escaped where a URL path needs it (slashes stay: tuned models hold them).
 */
function pathModel(model: string): string {
  const name = model.startsWith(GEMINI_RESOURCE_PREFIX) ? model.slice(GEMINI_RESOURCE_PREFIX.length) : model;
  return encodeURIComponent(name).replaceAll('%2F', '/');
}

/**
 * The headers of a translated answer for a client of another API: the gateway's request id also
 * where that API's SDKs read it (Anthropic's `request-id`).
 */
function inboundHeaders(ex: Exchange, headers: readonly string[]): readonly string[] {
  const name = ex.api?.requestIdHeader;
  return name === undefined ? headers : [...headers, name, ex.id];
}

/** x-gateway-dropped-params for the fields the client sent and the provider will not get, if any. */
function droppedHeader(refused: readonly string[]): readonly string[] {
  return refused.length > 0 ? [DROPPED_PARAMS_HEADER, droppedParams(refused)] : NO_HEADERS;
}

/**
 * The refused fields for x-gateway-dropped-params: each once, its positions written `[*]`
 * (`messages[*].content[*].citations`), within MAX_DROPPED_PARAMS_CHARS and then a count of the
 * rest, however many parts the request refused them in.
 */
export function droppedParams(refused: readonly string[]): string {
  const fields = new Set<string>();
  for (const path of refused) fields.add(path.replace(ARRAY_POSITION, '[*]'));
  let list = '';
  let named = 0;
  for (const field of fields) {
    const longer = list === '' ? field : `${list}, ${field}`;
    if (longer.length > MAX_DROPPED_PARAMS_CHARS) break;
    list = longer;
    named++;
  }
  const rest = fields.size - named;
  return rest === 0 ? list : `${list}${list === '' ? '' : ', '}and ${rest} more`;
}

/** For an unsupported-route message: the inbound API a translating provider serves itself. */
function inboundRoutes(provider: Provider): string {
  const spec = provider.spec;
  return spec.kind === 'translating' && spec.nativeApi !== undefined ? `, and the ${spec.nativeApi} API` : '';
}

/**
 * A translated request as JSON text. A translation can make a request larger than the client sent
 * it; past the longest string V8 can hold (about 512 MiB) that is the client's to shorten, a 413.
 */
function serialised(request: Record<string, unknown>): string {
  try {
    return JSON.stringify(request);
  } catch (err) {
    throw tooLongToSend(err);
  }
}

/** A RangeError from building a string past V8's length limit, as a 413; anything else as it was. */
function tooLongToSend(err: unknown): unknown {
  if (!(err instanceof RangeError) || !err.message.includes('string length')) return err;
  return new GatewayError(
    413,
    'The request, as translated for the provider, is larger than the gateway can build (a string of about 512 MiB). Send a shorter conversation.',
    'request_too_large',
  );
}

/** Lets other clients' callbacks run; a client that left meanwhile ends the request here. */
async function yieldTurn(ex: Exchange): Promise<void> {
  await nextTurn();
  if (ex.clientGone) throw CLIENT_LEFT;
}

/** Never written: the answer of a client that left is not sent (server.ts `fail`). */
export const CLIENT_LEFT = new GatewayError(499, 'The client closed the connection.', 'client_closed_request');
