// The provider registry: adding a provider is one file and one line here.
import { anthropic } from './anthropic/index.js';
import { fireworks } from './openai-compatible/fireworks.js';
import type { ProviderSpec } from './types.js';

export const providerSpecs: readonly ProviderSpec[] = [fireworks, anthropic];

export type { ProviderSpec } from './types.js';
