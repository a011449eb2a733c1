// Google Gemini through its OpenAI-compatible endpoint
// (https://ai.google.dev/gemini-api/docs/openai; reference https://ai.google.dev/api/compatibility).
// No mapModel: the endpoint prefixes `models/` itself when a name has no slash, so both
// `gemini-2.0-flash` and the model list's `models/gemini-2.0-flash` are accepted as sent.
// Request id: none documented.
// Gemini API clients (`/v1beta/models/{model}:generateContent`) are passed through to Google's own
// API, their bytes untouched; see `geminiApi`.
import { openAICompatible } from '../types.js';

export const gemini = openAICompatible({
  name: 'gemini',
  defaultBaseUrl: 'https://generativelanguage.googleapis.com/v1beta/openai',
  baseUrlEnv: 'GEMINI_BASE_URL',
  apiKeyEnv: 'GEMINI_API_KEY',
  // Google's own API (https://ai.google.dev/api/generate-content) lives beside the compatible layer,
  // at the same origin without `/v1beta/openai`: Gemini API clients are passed through to it.
  geminiApi: { docs: 'https://ai.google.dev/api/generate-content', compatPath: '/v1beta/openai', auth: { header: 'x-goog-api-key' } },
  // Its chat API documents stream_options.include_usage.
  streamUsage: true,
  docs: 'https://ai.google.dev/gemini-api/docs/openai',
  // Gemini 3 refuses a turn whose function calls lost their signatures (https://ai.google.dev/gemini-api/docs/thought-signatures).
  thoughtSignatures: true,
});
