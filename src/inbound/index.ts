// The inbound APIs and where the server mounts them. A request on one of these paths is answered
// in that API's terms, errors included, whichever provider serves it.
import { anthropicMessages } from './anthropic-messages/index.js';
import { GEMINI_API, geminiApi, type GeminiAnswer } from './gemini/index.js';
import { openAIResponses } from './openai-responses/index.js';
import { safeEcho } from '../redact.js';
import { ANTHROPIC_USAGE, GEMINI_USAGE, RESPONSES_USAGE } from '../stream.js';
import type { InboundApi, InboundRoute } from './types.js';

export const ANTHROPIC_MESSAGES = 'anthropic-messages';
export const RESPONSES_API = 'openai-responses';
export { GEMINI_API };

/** How OpenAI's SDKs send a key. */
export const OPENAI_KEY_HINT = '"Authorization: Bearer <key>" (the OpenAI SDK\'s apiKey)';

export const MESSAGES_PATH = '/v1/messages';
export const COUNT_TOKENS_PATH = '/v1/messages/count_tokens';
export const RESPONSES_PATH = '/v1/responses';

/** An API mounted where the server serves it, under the name providers declare it by. */
function mount(api: InboundApi, route: Omit<InboundRoute, keyof InboundApi> & { readonly name: string }): InboundRoute {
  return Object.freeze({ ...api, ...route });
}

export const messagesRoute = mount(anthropicMessages, {
  name: ANTHROPIC_MESSAGES,
  path: MESSAGES_PATH,
  notTranslated: (method, path, provider) =>
    path === COUNT_TOKENS_PATH
      ? `Provider "${provider}" cannot count tokens: ${COUNT_TOKENS_PATH} is served by providers that speak Anthropic's Messages API (anthropic).`
      : `Provider "${provider}" does not offer ${method} ${safeEcho(path, 200)}; of Anthropic's API it serves POST ${MESSAGES_PATH}.`,
  keyHint: '"x-api-key: <key>" or "Authorization: Bearer <key>" (the Anthropic SDK\'s apiKey or authToken)',
  requestIdHeader: 'request-id',
  usageDialect: ANTHROPIC_USAGE,
});

export const responsesRoute = mount(openAIResponses, {
  name: RESPONSES_API,
  path: RESPONSES_PATH,
  notTranslated: (method, path, provider) =>
    `Provider "${provider}" does not serve the Responses API itself: the gateway translates POST ${RESPONSES_PATH} to chat ` +
    `completions for it and stores nothing, so ${method} ${safeEcho(path, 200)} (a stored response) cannot be served.`,
  keyHint: OPENAI_KEY_HINT,
  usageDialect: RESPONSES_USAGE,
});

/** Where the Gemini API's models live: `/v1beta/models/{model}:{method}`. */
export const GEMINI_MODELS_PATH = '/v1beta/models';
export const GEMINI_GENERATE = 'generateContent';
export const GEMINI_STREAM = 'streamGenerateContent';
export const GEMINI_COUNT_TOKENS = 'countTokens';
const GEMINI_MODEL_PREFIX = `${GEMINI_MODELS_PATH}/`;

function geminiRoute(answer: GeminiAnswer): InboundRoute {
  const method = answer === 'whole' ? GEMINI_GENERATE : GEMINI_STREAM;
  return mount(geminiApi(answer), {
    name: GEMINI_API,
    path: `${GEMINI_MODEL_PREFIX}{model}:${method}`,
    translates: (path) => path.startsWith(GEMINI_MODEL_PREFIX) && path.endsWith(`:${method}`),
    notTranslated: (httpMethod, path, provider) =>
      `Provider "${provider}" does not offer ${httpMethod} ${safeEcho(path, 200)}; of the Gemini API it serves POST ` +
      `${GEMINI_MODEL_PREFIX}{model}:${GEMINI_GENERATE}, :${GEMINI_STREAM} and :${GEMINI_COUNT_TOKENS} (an estimate), and GET ${GEMINI_MODELS_PATH}.`,
    keyHint: '"x-goog-api-key: <key>", "?key=<key>" or "Authorization: Bearer <key>" (the Google GenAI SDK\'s apiKey)',
    usageDialect: GEMINI_USAGE,
  });
}

/** The Gemini API answered whole (generateContent, and the API's other routes). */
export const geminiWholeRoute = geminiRoute('whole');
/** streamGenerateContent with `alt=sse`, as the SDKs and Gemini CLI ask for it. */
export const geminiSseRoute = geminiRoute('sse');
/** streamGenerateContent without `alt=sse`: one JSON array, its elements written as they come. */
export const geminiArrayRoute = geminiRoute('array');
