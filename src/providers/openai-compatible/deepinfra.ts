// DeepInfra: the OpenAI-compatible API lives under /v1/openai, not /v1
// (https://deepinfra.com/docs/advanced/openai_api). Models are Hugging Face paths
// (`meta-llama/Meta-Llama-3.1-8B-Instruct`). Request id: none documented.
import { openAICompatible } from '../types.js';

export const deepinfra = openAICompatible({
  name: 'deepinfra',
  defaultBaseUrl: 'https://api.deepinfra.com/v1/openai',
  baseUrlEnv: 'DEEPINFRA_BASE_URL',
  apiKeyEnv: 'DEEPINFRA_API_KEY',
  // Its chat API documents stream_options.include_usage.
  streamUsage: true,
  docs: 'https://deepinfra.com/docs/advanced/openai_api',
});
