// Perplexity (Sonar): OpenAI SDK with baseURL https://api.perplexity.ai, so chat is
// POST /chat/completions (https://docs.perplexity.ai/docs/sonar/openai-compatibility).
// Chat only: no embeddings or model list in OpenAI's shape. Request id: none documented.
import { openAICompatible } from '../types.js';

export const perplexity = openAICompatible({
  name: 'perplexity',
  defaultBaseUrl: 'https://api.perplexity.ai',
  baseUrlEnv: 'PERPLEXITY_BASE_URL',
  apiKeyEnv: 'PERPLEXITY_API_KEY',
  docs: 'https://docs.perplexity.ai/docs/sonar/openai-compatibility',
});
