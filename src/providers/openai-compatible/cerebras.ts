// Cerebras Inference: OpenAI SDK with baseURL https://api.cerebras.ai/v1
// (https://inference-docs.cerebras.ai/resources/openai). Request id: none documented.
import { openAICompatible } from '../types.js';

export const cerebras = openAICompatible({
  name: 'cerebras',
  defaultBaseUrl: 'https://api.cerebras.ai/v1',
  baseUrlEnv: 'CEREBRAS_BASE_URL',
  apiKeyEnv: 'CEREBRAS_API_KEY',
  docs: 'https://inference-docs.cerebras.ai/resources/openai',
});
