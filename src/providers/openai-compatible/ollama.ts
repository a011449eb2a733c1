// Ollama's OpenAI-compatible API on the local server (https://docs.ollama.com/api/openai-compatibility:
// base URL http://localhost:11434/v1, the key "required but ignored"). A request without a key is
// sent without one. Request id: none documented.
import { openAICompatible } from '../types.js';

export const ollama = openAICompatible({
  name: 'ollama',
  defaultBaseUrl: 'http://127.0.0.1:11434/v1',
  baseUrlEnv: 'OLLAMA_BASE_URL',
  apiKeyEnv: 'OLLAMA_API_KEY',
  keyOptional: true,
  // The same page documents /v1/responses (stateless only).
  responsesApi: 'https://docs.ollama.com/api/openai-compatibility',
  // Its chat API documents stream_options.include_usage.
  streamUsage: true,
  docs: 'https://docs.ollama.com/api/openai-compatibility',
});
