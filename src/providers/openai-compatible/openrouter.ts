// OpenRouter: OpenAI SDK with baseURL https://openrouter.ai/api/v1
// (https://openrouter.ai/docs/quickstart). Models are named `vendor/model` (`openai/gpt-4o`) and
// go upstream as they are: send x-provider: openrouter (or `openrouter/openai/gpt-4o`), since a
// vendor may share its name with a provider here. The optional attribution headers
// (HTTP-Referer, X-Title) are the client's to send. Request id: none documented.
import { openAICompatible } from '../types.js';

export const openrouter = openAICompatible({
  name: 'openrouter',
  defaultBaseUrl: 'https://openrouter.ai/api/v1',
  baseUrlEnv: 'OPENROUTER_BASE_URL',
  apiKeyEnv: 'OPENROUTER_API_KEY',
  forwardHeaders: ['http-referer', 'x-title', 'x-openrouter-title'],
  // OpenRouter documents POST /api/v1/responses as a drop-in for OpenAI's (beta, stateless).
  responsesApi: 'https://openrouter.ai/docs/api/reference/responses/overview',
  // Its chat API documents stream_options.include_usage.
  streamUsage: true,
  docs: 'https://openrouter.ai/docs/quickstart',
});
