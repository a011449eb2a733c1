/**
 * The simulator standing in for any OpenAI-compatible provider: the Fireworks simulator's chat,
 * completions, embeddings, models and faults (sim/fireworks.ts), in the flavour of one host.
 *
 * A flavour is what a client of that host sees beyond the shared API, written here from the
 * host's own documentation (each provider file in src/providers/openai-compatible/ cites it), not
 * read from the gateway's specs, so that tests compare two independent statements of each fact:
 * - the path prefix its API lives under (`/openai/v1` on Groq, none on DeepSeek and Perplexity,
 *   `/v1/openai` on DeepInfra, `/openai` plus `/deployments/<d>/...?api-version=` on Azure);
 * - the key header: `Authorization: Bearer` everywhere but Azure's `api-key`; Ollama and vLLM
 *   (without --api-key) serve requests with no key at all;
 * - the response header carrying the request id, where the host documents one;
 * - GET /models as OpenAI's list, or Together's bare array;
 * - the error envelope: OpenAI's `{"error":{"message","type","param","code"}}`, Azure's
 *   `{"error":{"code","message"}}`;
 * - Gemini 3's thought signatures on tool calls, required back on the next turn (sim/thought-signatures.ts);
 * - whether it serves OpenAI's Responses API, and where: the hosts whose documentation has a page
 *   for it (each provider file cites it as `responsesApi`); Azure's is its v1 API
 *   (`/openai/v1/responses`), Perplexity's lies under `/v1` although its chat does not.
 * Any model name is served (the family's hosts each have their own catalogue; the listed one is a
 * small sample); a key is accepted when it starts with `sim-` (FAMILY_SIM_API_KEY).
 */
import { FIREWORKS_FLAVOUR, SIM_API_KEY, startFlavouredSim } from './fireworks.js';
import type { FireworksSim, FireworksSimOptions, SimFlavour, SimModel } from './fireworks.js';
import { signsToolCalls } from './thought-signatures.js';

export type OpenAICompatibleSim = FireworksSim;
export type { SimFlavour } from './fireworks.js';

/** A key every family flavour accepts: any key starting with `sim-`. */
export const FAMILY_SIM_API_KEY = 'sim-key';

const RELEASED = 1735689600;
const DEFAULT_DIMS = 768;

function chat(id: string): SimModel {
  return { id, kind: 'chat', created: RELEASED };
}

function embedding(id: string, dims = DEFAULT_DIMS): SimModel {
  return { id, kind: 'embedding', created: RELEASED, dims };
}

interface FamilyFacts {
  basePath: string;
  auth?: SimFlavour['auth'];
  keyOptional?: boolean;
  requestIdHeader?: string;
  modelsShape?: SimFlavour['modelsShape'];
  deployments?: boolean;
  errors?: SimFlavour['errors'];
  /** Where after basePath the host serves the Responses API; none when undefined. */
  responses?: string;
  /** Serves Google's own Gemini API beside the compatible layer. */
  geminiNative?: boolean;
  /** Whether a model's tool calls carry thought signatures the next request must send back. */
  thoughtSignatures?: (model: string) => boolean;
  /** Chat fields the host refuses with a 422 (SimFlavour.forbiddenFields). */
  forbiddenFields?: readonly string[];
  /** How a chat stream reports usage (SimFlavour.streamUsage); default `finish`. */
  streamUsage?: SimFlavour['streamUsage'];
  /** `owned_by` of every listed model. */
  owner: string;
  models: readonly SimModel[];
}

/** Each provider's host as its documentation describes it (see the provider files for sources). */
const FAMILY: Readonly<Record<string, FamilyFacts>> = {
  openai: { basePath: '/v1', responses: '/responses', requestIdHeader: 'x-request-id', owner: 'openai', streamUsage: 'asked', models: [chat('gpt-4o-mini'), embedding('text-embedding-3-small', 1536)] },
  azure: {
    basePath: '/openai', auth: 'api-key', requestIdHeader: 'apim-request-id', deployments: true, errors: 'azure', responses: '/v1/responses',
    owner: 'system', models: [chat('gpt-4o'), embedding('text-embedding-3-small', 1536)],
  },
  groq: { basePath: '/openai/v1', responses: '/responses', requestIdHeader: 'x-request-id', owner: 'Meta', models: [chat('llama-3.1-8b-instant'), chat('llama-3.3-70b-versatile')] },
  together: { basePath: '/v1', responses: '/responses', modelsShape: 'array', owner: 'together', models: [chat('meta-llama/Llama-3.3-70B-Instruct-Turbo'), embedding('BAAI/bge-base-en-v1.5')] },
  mistral: { basePath: '/v1', responses: '/responses', requestIdHeader: 'mistral-correlation-id', owner: 'mistralai', forbiddenFields: ['stream_options'], models: [chat('mistral-small-latest'), embedding('mistral-embed', 1024)] },
  deepseek: { basePath: '', owner: 'deepseek', models: [chat('deepseek-chat'), chat('deepseek-reasoner')] },
  openrouter: { basePath: '/api/v1', responses: '/responses', owner: 'openrouter', models: [chat('openai/gpt-4o-mini'), chat('meta-llama/llama-3.1-8b-instruct')] },
  xai: { basePath: '/v1', responses: '/responses', owner: 'xai', models: [chat('grok-4'), chat('grok-3-mini')] },
  cerebras: { basePath: '/v1', owner: 'Cerebras', models: [chat('llama3.1-8b'), chat('gpt-oss-120b')] },
  deepinfra: { basePath: '/v1/openai', owner: 'deepinfra', models: [chat('meta-llama/Meta-Llama-3.1-8B-Instruct'), embedding('BAAI/bge-base-en-v1.5')] },
  perplexity: { basePath: '', responses: '/v1/responses', owner: 'perplexity', models: [chat('sonar'), chat('sonar-pro')] },
  // Gemini's list names models by resource (`models/...`); chat takes either form.
  // Gemini 3's tool calls carry thought signatures (sim/thought-signatures.ts); Google's own API
  // lives beside the compatible layer (`/v1beta/models/...`, sim/gemini-native.ts).
  gemini: {
    basePath: '/v1beta/openai', geminiNative: true, thoughtSignatures: signsToolCalls, owner: 'google',
    models: [chat('models/gemini-2.0-flash'), chat('models/gemini-3-pro-preview'), embedding('models/text-embedding-004')],
  },
  ollama: { basePath: '/v1', responses: '/responses', keyOptional: true, owner: 'library', models: [chat('llama3.2'), embedding('nomic-embed-text')] },
  vllm: { basePath: '/v1', responses: '/responses', keyOptional: true, requestIdHeader: 'x-request-id', owner: 'vllm', models: [chat('meta-llama/Llama-3.1-8B-Instruct')] },
};

function flavourOf(name: string, facts: FamilyFacts): SimFlavour {
  const catalogue = new Map<string, SimModel>(facts.models.map((m) => [m.id, m]));
  return Object.freeze({
    name,
    basePath: facts.basePath,
    auth: facts.auth ?? 'bearer',
    keyOptional: facts.keyOptional ?? false,
    acceptsKey: (key: string) => key.startsWith('sim-'),
    models: facts.models,
    resolveModel: (id: string) => catalogue.get(id) ?? chat(id),
    owner: () => facts.owner,
    requestIdHeader: facts.requestIdHeader,
    modelsShape: facts.modelsShape ?? 'list',
    deployments: facts.deployments ?? false,
    errors: facts.errors ?? 'openai',
    perfHeaders: false,
    responsesPath: facts.responses,
    geminiNative: facts.geminiNative ?? false,
    ...(facts.thoughtSignatures !== undefined && { thoughtSignatures: facts.thoughtSignatures }),
    ...(facts.streamUsage !== undefined && { streamUsage: facts.streamUsage }),
    ...(facts.forbiddenFields !== undefined && { forbiddenFields: facts.forbiddenFields }),
  });
}

/** Every flavour the simulator has, by provider name; `fireworks` is the Fireworks simulator itself. */
export const SIM_FLAVOURS: Readonly<Record<string, SimFlavour>> = Object.freeze({
  fireworks: FIREWORKS_FLAVOUR,
  ...Object.fromEntries(Object.entries(FAMILY).map(([name, facts]) => [name, flavourOf(name, facts)])),
});

/** A key the flavour accepts. */
export function simApiKey(flavour: string): string {
  return flavour === 'fireworks' ? SIM_API_KEY : FAMILY_SIM_API_KEY;
}

export interface OpenAICompatibleSimOptions extends FireworksSimOptions {
  /** A provider name from SIM_FLAVOURS (default 'openai'), or a flavour of one's own. */
  flavour?: string | SimFlavour;
}

/** Starts the simulator in one provider's flavour; `sim.url` is what that provider's *_BASE_URL takes. */
export function startOpenAICompatibleSim(options: OpenAICompatibleSimOptions = {}): Promise<OpenAICompatibleSim> {
  const { flavour = 'openai', ...rest } = options;
  const chosen = typeof flavour === 'string' ? SIM_FLAVOURS[flavour] : flavour;
  if (chosen === undefined) {
    return Promise.reject(new Error(`Unknown simulator flavour "${String(flavour)}"; known: ${Object.keys(SIM_FLAVOURS).join(', ')}`));
  }
  return startFlavouredSim(chosen, rest);
}
