// Fireworks AI: OpenAI-compatible inference API (see shared FIREWORKS.md for the facts we match).
import { openAICompatible } from '../types.js';

const SHORT_NAME_PREFIX = 'accounts/fireworks/models/';

export const fireworks = openAICompatible({
  name: 'fireworks',
  defaultBaseUrl: 'https://api.fireworks.ai/inference/v1',
  baseUrlEnv: 'FIREWORKS_BASE_URL',
  apiKeyEnv: 'FIREWORKS_API_KEY',
  // Fireworks names models by resource path; a bare name means one of Fireworks' own models.
  mapModel: (model) => (model.includes('/') ? model : SHORT_NAME_PREFIX + model),
  requestIdHeader: 'x-request-id',
  // Fireworks documents the Responses API at /inference/v1/responses (OpenAI SDK, its base URL).
  responsesApi: 'https://docs.fireworks.ai/guides/response-api',
  // Its streams carry usage on their last chunk unasked: the gateway has nothing to add.
  docs: 'https://docs.fireworks.ai/api-reference/post-chatcompletions',
});
