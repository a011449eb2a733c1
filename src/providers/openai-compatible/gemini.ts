// Google Gemini through its OpenAI-compatible endpoint
// (https://ai.google.dev/gemini-api/docs/openai; reference https://ai.google.dev/api/compatibility).
// No mapModel: the endpoint prefixes `models/` itself when a name has no slash, so both
// `gemini-2.0-flash` and the model list's `models/gemini-2.0-flash` are accepted as sent.
// Request id: none documented.
import { openAICompatible } from '../types.js';

export const gemini = openAICompatible({
  name: 'gemini',
  defaultBaseUrl: 'https://generativelanguage.googleapis.com/v1beta/openai',
  baseUrlEnv: 'GEMINI_BASE_URL',
  apiKeyEnv: 'GEMINI_API_KEY',
  docs: 'https://ai.google.dev/gemini-api/docs/openai',
  // Gemini 3 refuses a turn whose function calls lost their signatures (https://ai.google.dev/gemini-api/docs/thought-signatures).
  thoughtSignatures: true,
});
