// Failures as the Responses API reports them: a JSON body as on every OpenAI endpoint, and in a
// stream an `event: error`.
// Sources: https://platform.openai.com/docs/api-reference/responses-streaming/error (the
// documented event: type, code, message, param, sequence_number at the top level), the event as
// OpenAI actually sends it, with the error nested under `error` (openai/openai-dotnet#881,
// Effect-TS/effect#7262), the `openai` SDK's core/streaming.js (it raises an APIError for an event
// whose data has an `error` field, and reads anything else as an ordinary event, so a flat event
// alone would end the stream quietly) and the AI SDK's openaiResponsesErrorChunkSchema and
// openaiResponsesNestedErrorChunkSchema (it reads either). The event carries both shapes, so every
// one of these readers finds the error.
import type { OpenAIErrorBody } from '../../errors.js';
import { namedEvent } from '../chat.js';

export function errorEvent(error: OpenAIErrorBody, sequenceNumber: number): string {
  const data = {
    type: 'error',
    sequence_number: sequenceNumber,
    code: error.code,
    message: error.message,
    param: error.param,
    error: { type: error.type, code: error.code, message: error.message, param: error.param },
  };
  return namedEvent('error', JSON.stringify(data));
}
