// Anthropic's Messages API (POST /v1/messages) in front of providers that speak OpenAI chat
// completions: the request as a chat request, the chat answer (JSON or chunks) as a Message or its
// event stream, failures as Anthropic's errors. A provider that speaks the Messages API itself gets
// the client's bytes instead (see gateway.ts).
// The pieces: request.ts (the request), answer.ts (a whole answer), stream.ts (a streamed one),
// errors.ts (failures).
import { MAX_ANSWER_BYTES } from '../chat.js';
import type { InboundApi, InboundContext, InboundTranslation } from '../types.js';
import { translateAnswer } from './answer.js';
import { errorBody, errorEvent, errorStatus } from './errors.js';
import { translateRequest } from './request.js';
import { MessagesStreamTranslator } from './stream.js';

/** What the Messages translation leaves out is named in the debug log only. */
const NONE_REFUSED: readonly string[] = Object.freeze([]);

export const anthropicMessages: InboundApi = {
  name: 'anthropic-messages',
  toChat(body: Record<string, unknown>, context: InboundContext): InboundTranslation {
    const { model } = context;
    const { chat, dropped } = translateRequest(body, model, context.thinking, context.thoughtSignatures === true);
    return {
      chat,
      dropped,
      refused: NONE_REFUSED,
      answer: (chatJson) => translateAnswer(chatJson, model),
      stream: (redact) => new MessagesStreamTranslator(model, context.maxAnswerBytes ?? MAX_ANSWER_BYTES, redact),
    };
  },
  errorStatus,
  errorBody,
  errorEvent,
};
