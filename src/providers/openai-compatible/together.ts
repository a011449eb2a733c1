// Together AI: OpenAI-compatible (https://docs.together.ai/docs/inference/openai-compatibility,
// whose drop-in setup names api.together.ai; api.together.xyz is the older host of the same API).
// Its GET /models answers a bare JSON array (https://docs.together.ai/reference/models), which
// OpenAI clients cannot page: it is wrapped into OpenAI's list. Request id: none documented.
import { openAICompatible } from '../types.js';

export const together = openAICompatible({
  name: 'together',
  defaultBaseUrl: 'https://api.together.ai/v1',
  baseUrlEnv: 'TOGETHER_BASE_URL',
  apiKeyEnv: 'TOGETHER_API_KEY',
  // The array's items are already model objects (`id`, `object`, `created`, ...); only the
  // envelope is added, so the items' bytes are kept as they came.
  modelsAnswer: (body) => (body.trimStart().startsWith('[') ? `{"object":"list","data":${body}}` : body),
  // Together documents POST /v1/responses (no stored responses: the whole conversation each time).
  responsesApi: 'https://docs.together.ai/docs/inference/responses-api',
  // Its chat API documents stream_options.include_usage.
  streamUsage: true,
  docs: 'https://docs.together.ai/docs/inference/openai-compatibility',
});
