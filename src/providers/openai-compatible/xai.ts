// xAI (Grok): OpenAI SDK with baseURL https://api.x.ai/v1 (https://docs.x.ai/api/integrations).
// Request id: none documented.
import { openAICompatible } from '../types.js';

export const xai = openAICompatible({
  name: 'xai',
  defaultBaseUrl: 'https://api.x.ai/v1',
  baseUrlEnv: 'XAI_BASE_URL',
  apiKeyEnv: 'XAI_API_KEY',
  // xAI documents POST /v1/responses as its preferred API (stored 30 days: previous_response_id).
  responsesApi: 'https://docs.x.ai/developers/model-capabilities/text/generate-text',
  // Its chat API documents stream_options.include_usage.
  streamUsage: true,
  docs: 'https://docs.x.ai/api/integrations',
});
