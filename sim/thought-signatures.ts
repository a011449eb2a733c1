/**
 * Gemini 3's thought signatures as Google's OpenAI-compatible endpoint shows them, for the
 * simulator's `gemini` flavour: each tool call of a Gemini 3 model's answer carries
 * `extra_content: {"google": {"thought_signature": "<base64>"}}`, and a request in which an
 * assistant tool call of the current turn (the messages after the last user message) comes back
 * without it is refused with a 400.
 * Sources: https://ai.google.dev/gemini-api/docs/thought-signatures (signatures are required on
 * the first function call of each step of the current turn; missing ones are a 400; through the
 * OpenAI-compatible endpoint they travel in `extra_content`), and the 400 as Google's endpoint
 * sends it, quoted in discuss.ai.google.dev thread 109823 ("OpenAI API compatibility broken due to
 * thought_signature on gemini-3-pro-preview"): a one-element JSON list holding Google's error,
 * `[{"error":{"code":400,"message":"Function call is missing a thought_signature in functionCall
 * parts. ...","status":"INVALID_ARGUMENT"}}]`. The `position` it names is read here as the
 * message's index. A signature that is not the one sent is refused too; Google's wording for that
 * case was not found, so its message here is an approximation.
 */

/** Models whose tool calls carry thought signatures (`gemini-3-pro-preview`, `models/gemini-3-flash`...). */
const SIGNING_MODEL = /^(models\/)?gemini-3/;

const SIGNATURE_PREFIX = 'sim-thought-signature:';
/** Google's signatures are a few hundred base64 characters at least: so are these, to carry a realistic size. */
const SIGNATURE_PADDING = '.'.repeat(200);

export function signsToolCalls(model: string): boolean {
  return SIGNING_MODEL.test(model);
}

/** The signature of the call with this id: opaque to a client, checkable here. */
export function thoughtSignature(callId: string): string {
  return Buffer.from(`${SIGNATURE_PREFIX}${callId}:${SIGNATURE_PADDING}`, 'utf8').toString('base64');
}

/** `,"extra_content":{...}` for a tool call's JSON, as Google's endpoint adds it. */
export function extraContentJson(callId: string): string {
  return `,"extra_content":{"google":{"thought_signature":"${thoughtSignature(callId)}"}}`;
}

function isObject(value: unknown): value is Record<string, any> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function signatureOf(call: Record<string, any>): unknown {
  const extra = call.extra_content;
  return isObject(extra) && isObject(extra.google) ? extra.google.thought_signature : undefined;
}

/**
 * Why a Gemini 3 model refuses these chat messages (Google's message), or null: the first tool
 * call of each assistant message of the current turn must carry the signature it was sent with,
 * and any signature sent must be one the model gave that call.
 */
export function signatureProblem(messages: readonly unknown[]): string | null {
  let turnStart = 0;
  messages.forEach((message, i) => {
    if (isObject(message) && message.role === 'user') turnStart = i + 1;
  });
  for (let i = 0; i < messages.length; i++) {
    const message = messages[i];
    if (!isObject(message) || message.role !== 'assistant' || !Array.isArray(message.tool_calls)) continue;
    for (const [k, call] of message.tool_calls.entries()) {
      if (!isObject(call)) continue;
      const signature = signatureOf(call);
      const name = isObject(call.function) ? String(call.function.name) : '';
      if (signature === undefined) {
        if (k === 0 && i >= turnStart) {
          return (
            'Function call is missing a thought_signature in functionCall parts. This is required for tools to work correctly, ' +
            `and missing thought_signature may lead to degraded model performance. Additional data, function call \`default_api:${name}\` , ` +
            `position ${i}. Please refer to https://ai.google.dev/gemini-api/docs/thought-signatures for more details.`
          );
        }
        continue;
      }
      if (signature !== thoughtSignature(String(call.id))) {
        return `Thought signature is not valid: function call \`default_api:${name}\` , position ${i}. Send back the thought_signature exactly as it was received.`;
      }
    }
  }
  return null;
}

/** Google's 400 through its OpenAI-compatible endpoint: its own error, in a one-element list. */
export function signatureErrorBody(message: string): string {
  return JSON.stringify([{ error: { code: 400, message, status: 'INVALID_ARGUMENT' } }]);
}
