// Groq: OpenAI-compatible under /openai/v1 (https://console.groq.com/docs/openai).
// Request id: `x-request-id`, not in Groq's docs but sent on its answers (public client code logs
// it beside `x-groq-region`).
import { openAICompatible } from '../types.js';

export const groq = openAICompatible({
  name: 'groq',
  defaultBaseUrl: 'https://api.groq.com/openai/v1',
  baseUrlEnv: 'GROQ_BASE_URL',
  apiKeyEnv: 'GROQ_API_KEY',
  requestIdHeader: 'x-request-id',
  // Groq documents POST /openai/v1/responses, "fully compatible" with OpenAI's (stateless).
  responsesApi: 'https://console.groq.com/docs/responses-api',
  // Its chat API documents stream_options.include_usage.
  streamUsage: true,
  docs: 'https://console.groq.com/docs/openai',
});
