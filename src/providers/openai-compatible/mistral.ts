// Mistral AI: chat, embeddings and models in OpenAI's shapes at api.mistral.ai/v1
// (https://docs.mistral.ai/api/). Request id: `mistral-correlation-id`, the header Mistral's own
// client (mistralai/mistral-vibe, vibe/core/llm/backend/mistral.py) reads.
import { openAICompatible } from '../types.js';

export const mistral = openAICompatible({
  name: 'mistral',
  defaultBaseUrl: 'https://api.mistral.ai/v1',
  baseUrlEnv: 'MISTRAL_BASE_URL',
  apiKeyEnv: 'MISTRAL_API_KEY',
  requestIdHeader: 'mistral-correlation-id',
  // Its validator forbids extra fields: stream_options is a 422 (its streams carry usage anyway).
  refusesStreamOptions: true,
  // Mistral documents the Responses API (public preview, stateless) beside chat at /v1.
  responsesApi: 'https://docs.mistral.ai/studio/conversations/responses',
  docs: 'https://docs.mistral.ai/api/',
});
