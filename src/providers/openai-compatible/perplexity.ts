// Perplexity (Sonar): OpenAI SDK with baseURL https://api.perplexity.ai, so chat is
// POST /chat/completions (https://docs.perplexity.ai/docs/sonar/openai-compatibility).
// No embeddings or model list in OpenAI's shape. Request id: none documented. Its Agent API takes
// OpenAI's Responses API at POST /v1/responses (an alias of /v1/agent), under /v1 where chat is not:
// https://docs.perplexity.ai/docs/agent-api/openai-compatibility.
import { openAICompatible } from '../types.js';

const RESPONSES_ROUTE = /^\/responses(?:[/?]|$)/;

export const perplexity = openAICompatible({
  name: 'perplexity',
  defaultBaseUrl: 'https://api.perplexity.ai',
  baseUrlEnv: 'PERPLEXITY_BASE_URL',
  apiKeyEnv: 'PERPLEXITY_API_KEY',
  upstreamPath: (path) => (RESPONSES_ROUTE.test(path) ? `/v1${path}` : path),
  responsesApi: 'https://docs.perplexity.ai/docs/agent-api/openai-compatibility',
  docs: 'https://docs.perplexity.ai/docs/sonar/openai-compatibility',
});
