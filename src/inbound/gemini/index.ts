// Google's Gemini API (POST /v1beta/models/{model}:generateContent and :streamGenerateContent) in
// front of providers that speak OpenAI chat completions: the request as a chat request, the chat
// answer (JSON or chunks) as a GenerateContentResponse or its stream, failures as Google's errors.
// One API per way of answering, since the path (not the body) says whether to stream and the query
// (`alt=sse`) how: each is mounted in inbound/index.ts and picked per request by the server.
// The pieces: request.ts (the request), schema.ts (its OpenAPI-subset schemas), answer.ts (a whole
// answer), stream.ts (a streamed one), errors.ts (failures).
import type { OpenAIErrorBody } from '../../errors.js';
import { MAX_ANSWER_BYTES } from '../chat.js';
import type { InboundApi, InboundContext, InboundTranslation } from '../types.js';
import { translateAnswer } from './answer.js';
import { errorBody, errorEvent, errorStatus, type StreamFraming } from './errors.js';
import { translateRequest } from './request.js';
import { GeminiStreamTranslator } from './stream.js';

export const GEMINI_API = 'gemini';

/** How the answer goes out: whole (generateContent), or a stream framed as SSE or as a JSON array. */
export type GeminiAnswer = 'whole' | StreamFraming;

const JSON_CONTENT_TYPE = 'application/json';

export function geminiApi(answer: GeminiAnswer): InboundApi {
  const framing: StreamFraming = answer === 'array' ? 'array' : 'sse';
  return Object.freeze({
    name: GEMINI_API,
    toChat(body: Record<string, unknown>, context: InboundContext): InboundTranslation {
      const { model } = context;
      const { chat, dropped, includeThoughts } = translateRequest(body, model, {
        stream: answer !== 'whole',
        thinking: context.thinking,
        thoughtSignatures: context.thoughtSignatures === true,
      });
      return {
        chat,
        dropped,
        // Google's own tools (googleSearch, codeExecution, ...) and safety settings: asked for, not served.
        refused: dropped.filter((name) => name.startsWith('tools.') || name === 'safetySettings'),
        ...(answer === 'array' && { streamContentType: JSON_CONTENT_TYPE }),
        answer: (chatJson: string) => translateAnswer(chatJson, model, includeThoughts),
        stream: (redact) => new GeminiStreamTranslator(model, framing, includeThoughts, context.maxAnswerBytes ?? MAX_ANSWER_BYTES, redact),
      };
    },
    errorStatus,
    errorBody,
    errorEvent: (status: number, error: OpenAIErrorBody) => errorEvent(framing, status, error),
  });
}
