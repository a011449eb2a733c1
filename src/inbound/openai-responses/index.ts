// OpenAI's Responses API (POST /v1/responses) for providers that do not serve it themselves: the
// request as a chat completion request, the chat answer (JSON or chunks) back as a Response.
// A provider that serves the Responses API (a pass-through spec with `responsesApi`) gets the
// client's bytes instead; see gateway.ts.
import { errorJson, type OpenAIErrorBody } from '../../errors.js';
import { MAX_ANSWER_BYTES } from '../chat.js';
import type { InboundApi, InboundContext, InboundTranslation } from '../types.js';
import { echoJson, toResponse } from './answer.js';
import { errorEvent } from './errors.js';
import { toChatRequest } from './request.js';
import { ResponsesStreamTranslator } from './stream.js';

export const openAIResponses: InboundApi = Object.freeze({
  name: 'openai-responses',

  toChat(body: Record<string, unknown>, context: InboundContext): InboundTranslation {
    const client = context.client();
    const outputItems = context.outputItems;
    const { chat, dropped, refused, echo, toolNames } = toChatRequest(
      body,
      context.model,
      {
        recall: (id) => outputItems.recall(client, id),
        bodyBytes: context.bodyBytes,
        maxBodyBytes: context.maxBodyBytes,
      },
      context.hostedTools ?? 'drop',
      context.thoughtSignatures === true,
    );
    const echoed = echoJson(echo);
    const remember = (items: readonly unknown[]) => outputItems.remember(client, items);
    return {
      chat,
      dropped,
      refused,
      answer: (chatJson: string) => toResponse(chatJson, context.model, echo, echoed, remember, toolNames),
      stream: (redact) => new ResponsesStreamTranslator(context.model, echo, echoed, remember, toolNames, context.maxAnswerBytes ?? MAX_ANSWER_BYTES, redact),
    };
  },

  // The Responses API answers failures with the same statuses as chat completions.
  errorStatus: (status: number): number => status,

  errorBody: (_status: number, error: OpenAIErrorBody): string => errorJson(error),

  /**
   * Outside a stream translator the stream's position is unknown: sequence_number 0. No SDK
   * checks the order of sequence numbers; they read them only to resume a stored response.
   */
  errorEvent: (_status: number, error: OpenAIErrorBody): string => errorEvent(error, 0),
});
