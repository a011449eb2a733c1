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

export const azure = openAICompatible({
  name: 'azure',
  defaultBaseUrl: undefined,
  baseUrlEnv: 'AZURE_BASE_URL',
  apiKeyEnv: 'AZURE_API_KEY',
  auth: { header: 'api-key' },
  requestIdHeader: 'apim-request-id',
  options: {
    apiVersion: {
      env: 'AZURE_API_VERSION',
      default: '2024-10-21',
      description: 'Azure OpenAI api-version query parameter sent with every request (a GA or preview version).',
    },
  },
  upstreamPath: (path, model, settings) => {
    const q = path.indexOf('?');
    const route = q === -1 ? path : path.slice(0, q);
    // The client's own query is kept; its own api-version, if it sent one, wins.
    const query = q === -1 ? '' : path.slice(q + 1);
    const version = HAS_API_VERSION.test(query) ? '' : `api-version=${encodeURIComponent(settings.options.apiVersion!)}`;
    const search = version && query ? `?${version}&${query}` : `?${version || query}`;
    const target = model !== undefined && DEPLOYMENT_ROUTES.has(route) ? `/deployments/${encodeURIComponent(model)}${route}` : route;
    return target + search;
  },
  docs: 'https://learn.microsoft.com/azure/ai-services/openai/reference',
});
