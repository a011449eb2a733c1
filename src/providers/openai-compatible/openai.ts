// OpenAI: the API the family copies. Docs: https://platform.openai.com/docs/api-reference
// Request id: `x-request-id` ("Unique identifier for this API request", the same reference's
// response headers; openai-node reads it into `_request_id`).
import { openAICompatible } from '../types.js';

export const openai = openAICompatible({
  name: 'openai',
  defaultBaseUrl: 'https://api.openai.com/v1',
  baseUrlEnv: 'OPENAI_BASE_URL',
  apiKeyEnv: 'OPENAI_API_KEY',
  requestIdHeader: 'x-request-id',
  // OpenAI's own Responses API reference: POST /v1/responses.
  responsesApi: 'https://platform.openai.com/docs/api-reference/responses',
  // max_tokens is deprecated in favour of max_completion_tokens, which o-series and gpt-5 models
  // require (https://platform.openai.com/docs/api-reference/chat/create#chat-create-max_tokens).
  maxTokensParam: 'max_completion_tokens',
  // Its chat API documents stream_options.include_usage.
  streamUsage: true,
  docs: 'https://platform.openai.com/docs/api-reference',
});
