// vLLM's OpenAI-compatible server (https://docs.vllm.ai/en/latest/serving/openai_compatible_server.html):
// `vllm serve` listens on port 8000 under /v1 and wants a key only when started with --api-key.
// Request id: `X-Request-Id`, set by its XRequestIdMiddleware when run with
// --enable-request-id-headers (https://docs.vllm.ai/en/latest/api/vllm/entrypoints/serve/middleware/x_request_id/).
import { openAICompatible } from '../types.js';

export const vllm = openAICompatible({
  name: 'vllm',
  defaultBaseUrl: 'http://127.0.0.1:8000/v1',
  baseUrlEnv: 'VLLM_BASE_URL',
  apiKeyEnv: 'VLLM_API_KEY',
  keyOptional: true,
  requestIdHeader: 'x-request-id',
  // vLLM's supported OpenAI APIs include the Responses API (/v1/responses), for text models.
  responsesApi: 'https://docs.vllm.ai/en/stable/serving/online_serving.html',
  // Its chat API documents stream_options.include_usage.
  streamUsage: true,
  docs: 'https://docs.vllm.ai/en/latest/serving/openai_compatible_server.html',
});
