// Azure OpenAI: OpenAI's API per deployment, keyed by an `api-key` header, versioned by an
// `api-version` query parameter (https://learn.microsoft.com/azure/ai-services/openai/reference;
// 2024-10-21 is the latest GA data-plane inference version listed there). There is no public
// host: AZURE_BASE_URL is https://<resource>.openai.azure.com/openai, as the AzureOpenAI client
// builds it from its endpoint. The request's model names the deployment, and the path carries it
// where openai-node's AzureOpenAI puts it (its `_deployments_endpoints`). Request id:
// `apim-request-id`, the one Microsoft's own sample app (microsoft/sample-app-aoai-chatGPT) reads.
import { openAICompatible } from '../types.js';

/** Paths that address a deployment: `/deployments/<model><path>`. */
const DEPLOYMENT_ROUTES: ReadonlySet<string> = new Set([
  '/chat/completions',
  '/completions',
  '/embeddings',
  '/audio/transcriptions',
  '/audio/translations',
  '/audio/speech',
  '/images/generations',
  '/images/edits',
]);
const HAS_API_VERSION = /(?:^|&)api-version=/;
/**
 * The Responses API is served only by Azure's v1 API, `/openai/v1/responses`, without a deployment
 * in the path (the body's model names it) and without a dated api-version, which the v1 path
 * refuses ("API version not supported": zendev-sh/goai PR #54, after Azure's API lifecycle page,
 * https://learn.microsoft.com/azure/ai-foundry/openai/api-version-lifecycle).
 */
const V1_ROUTE = /^\/responses(?:[/?]|$)/;

export const azure = openAICompatible({
  name: 'azure',
  defaultBaseUrl: undefined,
  baseUrlEnv: 'AZURE_BASE_URL',
  apiKeyEnv: 'AZURE_API_KEY',
  auth: { header: 'api-key' },
  requestIdHeader: 'apim-request-id',
  // As OpenAI's: reasoning deployments refuse max_tokens (the 2024-10-21 reference has both).
  maxTokensParam: 'max_completion_tokens',
  options: {
    apiVersion: {
      env: 'AZURE_API_VERSION',
      default: '2024-10-21',
      description: 'Azure OpenAI api-version query parameter sent with every request but the v1 API\'s (/responses), a GA or preview version.',
    },
  },
  upstreamPath: (path, model, settings) => {
    if (V1_ROUTE.test(path)) return `/v1${path}`;
    const q = path.indexOf('?');
    const route = q === -1 ? path : path.slice(0, q);
    // The client's own query is kept; its own api-version, if it sent one, wins.
    const query = q === -1 ? '' : path.slice(q + 1);
    const version = HAS_API_VERSION.test(query) ? '' : `api-version=${encodeURIComponent(settings.options.apiVersion!)}`;
    const search = version && query ? `?${version}&${query}` : `?${version || query}`;
    const target = model !== undefined && DEPLOYMENT_ROUTES.has(route) ? `/deployments/${encodeURIComponent(model)}${route}` : route;
    return target + search;
  },
  // Azure documents the Responses API on its v1 API: POST /openai/v1/responses.
  responsesApi: 'https://learn.microsoft.com/azure/ai-foundry/openai/how-to/responses',
  // Its chat API documents stream_options.include_usage.
  streamUsage: true,
  docs: 'https://learn.microsoft.com/azure/ai-services/openai/reference',
});
