// The inbound APIs and where the server mounts them. A request on one of these paths is answered
// in that API's terms, errors included, whichever provider serves it.
import { anthropicMessages } from './anthropic-messages/index.js';
import { openAIResponses } from './openai-responses/index.js';
import type { InboundApi, InboundRoute } from './types.js';

export const ANTHROPIC_MESSAGES = 'anthropic-messages';
export const RESPONSES_API = 'openai-responses';

export const MESSAGES_PATH = '/v1/messages';
export const COUNT_TOKENS_PATH = '/v1/messages/count_tokens';
export const RESPONSES_PATH = '/v1/responses';

/** An API mounted at `path`, under the name providers declare it by. */
function mount(name: string, api: InboundApi, path: string, notTranslated: InboundRoute['notTranslated']): InboundRoute {
  const route: InboundRoute = {
    name,
    path,
    notTranslated,
    toChat: (body, context) => api.toChat(body, context),
    errorStatus: (status, error) => api.errorStatus(status, error),
    errorBody: (status, error) => api.errorBody(status, error),
    errorEvent: (status, error) => api.errorEvent(status, error),
  };
  return Object.freeze(route);
}

export const messagesRoute = mount(ANTHROPIC_MESSAGES, anthropicMessages, MESSAGES_PATH, (method, path, provider) =>
  path === COUNT_TOKENS_PATH
    ? `Provider "${provider}" cannot count tokens: ${COUNT_TOKENS_PATH} is served by providers that speak Anthropic's Messages API (anthropic).`
    : `Provider "${provider}" does not offer ${method} ${path}; of Anthropic's API it serves POST ${MESSAGES_PATH}.`,
);

export const responsesRoute = mount(
  RESPONSES_API,
  openAIResponses,
  RESPONSES_PATH,
  (method, path, provider) =>
    `Provider "${provider}" does not serve the Responses API itself: the gateway translates POST ${RESPONSES_PATH} to chat ` +
    `completions for it and stores nothing, so ${method} ${path} (a stored response) cannot be served.`,
);
