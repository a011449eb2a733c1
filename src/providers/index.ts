// The provider registry: adding a provider is one file and one line here.
import { anthropic } from './anthropic/index.js';
import { bedrock } from './bedrock/index.js';
import { azure } from './openai-compatible/azure.js';
import { cerebras } from './openai-compatible/cerebras.js';
import { deepinfra } from './openai-compatible/deepinfra.js';
import { deepseek } from './openai-compatible/deepseek.js';
import { fireworks } from './openai-compatible/fireworks.js';
import { gemini } from './openai-compatible/gemini.js';
import { groq } from './openai-compatible/groq.js';
import { mistral } from './openai-compatible/mistral.js';
import { ollama } from './openai-compatible/ollama.js';
import { openai } from './openai-compatible/openai.js';
import { openrouter } from './openai-compatible/openrouter.js';
import { perplexity } from './openai-compatible/perplexity.js';
import { together } from './openai-compatible/together.js';
import { vllm } from './openai-compatible/vllm.js';
import { xai } from './openai-compatible/xai.js';
import type { ProviderSpec } from './types.js';

export const providerSpecs: readonly ProviderSpec[] = [
  fireworks,
  anthropic,
  bedrock,
  openai,
  azure,
  groq,
  together,
  mistral,
  deepseek,
  openrouter,
  xai,
  cerebras,
  deepinfra,
  perplexity,
  gemini,
  ollama,
  vllm,
];

export type { ProviderSpec } from './types.js';
