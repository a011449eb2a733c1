// Anthropic's Messages API behind the OpenAI chat completions API: a translating provider.
// Sources: https://platform.claude.com/docs/en/api/messages (POST /v1/messages, the x-api-key
// and anthropic-version headers, the request-id response header),
// https://platform.claude.com/docs/en/api/versioning (2023-06-01 and 2026-10-21).
// The pieces: request.ts (the request), answer.ts (a whole answer), stream.ts (a streamed one),
// errors.ts (failures), models.ts (the model list); what Bedrock shares of them is in src/translate/.
import { ANTHROPIC_FACTS } from '../../observe/facts.js';
import type { ChatTranslation, ProviderAdapter, TranslateContext, TranslatingSpec } from '../types.js';
import { translateAnswer } from './answer.js';
import { httpError } from './errors.js';
import { modelsAnswer, MODELS_PATH } from './models.js';
import { ANTHROPIC_VERSIONS, DEFAULT_ANTHROPIC_VERSION, translateRequest } from './request.js';
import { AnthropicStreamTranslator } from './stream.js';

const MESSAGES_PATH = '/v1/messages';

export const anthropicAdapter: ProviderAdapter = {
  framing: 'sse',
  facts: ANTHROPIC_FACTS,
  headers: (options) => [['anthropic-version', options.anthropicVersion || DEFAULT_ANTHROPIC_VERSION]],
  chat(body: Record<string, unknown>, context: TranslateContext): ChatTranslation {
    const version = context.options.anthropicVersion || DEFAULT_ANTHROPIC_VERSION;
    const request = translateRequest(body, context.model, version);
    const { includeUsage, jsonTool } = request;
    return {
      path: MESSAGES_PATH,
      body: request.body,
      headers: [],
      dropped: request.dropped,
      refused: request.refused,
      answer: (text) => translateAnswer(text, jsonTool),
      stream: (redact) => new AnthropicStreamTranslator({ includeUsage, jsonTool }, redact),
    };
  },
  error: httpError,
  models: { path: MODELS_PATH, answer: modelsAnswer },
};

export const anthropic: TranslatingSpec = Object.freeze({
  name: 'anthropic',
  kind: 'translating',
  defaultBaseUrl: 'https://api.anthropic.com',
  baseUrlEnv: 'ANTHROPIC_BASE_URL',
  apiKeyEnv: 'ANTHROPIC_API_KEY',
  // The API key header of Anthropic's API reference (its newest SDKs send a bearer token instead;
  // x-api-key is accepted by every version and by Anthropic-compatible hosts).
  auth: { header: 'x-api-key' },
  requestIdHeader: 'request-id',
  forwardHeaders: ['anthropic-beta'],
  options: {
    anthropicVersion: {
      env: 'ANTHROPIC_VERSION',
      default: DEFAULT_ANTHROPIC_VERSION,
      description: 'The anthropic-version header; 2026-10-21 refuses temperature, top_p and top_k, which the gateway then leaves out',
      values: ANTHROPIC_VERSIONS,
    },
  },
  docs: 'https://platform.claude.com/docs/en/api/messages',
  adapter: anthropicAdapter,
  // A client speaking the Messages API (/v1/messages, /v1/messages/count_tokens) is passed through.
  nativeApi: 'anthropic-messages',
});
