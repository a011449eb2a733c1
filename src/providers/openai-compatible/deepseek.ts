// DeepSeek: https://api-docs.deepseek.com/ gives base_url https://api.deepseek.com for the OpenAI
// SDK (https://api.deepseek.com/v1 also works; its "v1" is no model version). The bare host is
// what the docs name, so paths are /chat/completions, /models. Request id: none documented.
import { openAICompatible } from '../types.js';

export const deepseek = openAICompatible({
  name: 'deepseek',
  defaultBaseUrl: 'https://api.deepseek.com',
  baseUrlEnv: 'DEEPSEEK_BASE_URL',
  apiKeyEnv: 'DEEPSEEK_API_KEY',
  // Its chat API documents stream_options.include_usage.
  streamUsage: true,
  docs: 'https://api-docs.deepseek.com/',
});
