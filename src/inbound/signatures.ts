// Gemini's thought signatures on tool calls, carried across turns through APIs that have no field
// for them. Gemini 3 models answer a request with a 400 ("Function call is missing a
// thought_signature in functionCall parts ...", as quoted on discuss.ai.google.dev, thread
// 109823) when a function call of the current turn comes back without the signature it was sent
// with (https://ai.google.dev/gemini-api/docs/thought-signatures). Google's OpenAI-compatible
// endpoint puts it on each chat tool call as `extra_content: {"google": {"thought_signature"}}`
// and takes it back there on the assistant message's tool_calls (that page's OpenAI section; the
// same field is read and sent back by openai/codex PR 7586 and crmne/ruby_llm PR 588).
// - The Gemini API has a field for it (a part's `thoughtSignature`): it maps one to one.
// - Anthropic's Messages API and the Responses API have none, and their agents send back only the
//   call's id: the signature rides in the id the client sees, `<id>__sig__<base64url(signature)>`,
//   which keeps to Anthropic's tool_use id characters (^[a-zA-Z0-9_-]+$) and is split again
//   wherever the client sends the id back (tool_use, tool_result, function_call, its output).
// An id with no signature is never changed, and one that does not decode as written here is read
// as an ordinary id.
import { isRecord } from '../translate/json.js';
import type { ToolCall } from './chat.js';

/** Between a tool call's own id and its signature in the id an Anthropic or Responses client sees. */
export const SIGNED_ID_SEPARATOR = '__sig__';

/**
 * The longest signature carried, in characters (Google's are a few hundred to a few thousand
 * base64 characters): a longer one is not carried in an id, and one a client sends back in a
 * longer id is not read.
 */
export const MAX_THOUGHT_SIGNATURE_CHARS = 64 * 1024;

/** The longest base64url text of a signature within the bound (each 3 bytes become 4 characters). */
const MAX_ENCODED_CHARS = Math.ceil((MAX_THOUGHT_SIGNATURE_CHARS * 4) / 3);

/** A chat tool call's (or tool-call delta's) `extra_content.google.thought_signature`, within the bound. */
export function thoughtSignatureOf(call: Record<string, unknown>): string | undefined {
  const extra = call.extra_content;
  if (!isRecord(extra) || !isRecord(extra.google)) return undefined;
  const signature = extra.google.thought_signature;
  return typeof signature === 'string' && signature !== '' && signature.length <= MAX_THOUGHT_SIGNATURE_CHARS ? signature : undefined;
}

/** A chat tool call carrying `signature` as Google's OpenAI-compatible endpoint takes it back. */
export function signedToolCall(call: Record<string, unknown>, signature: string | undefined): Record<string, unknown> {
  if (signature !== undefined) call.extra_content = { google: { thought_signature: signature } };
  return call;
}

/** The id a client without a signature field sees: the call's own id, with its signature when it has one. */
export function signedId(call: Pick<ToolCall, 'id' | 'signature'>): string {
  const { id, signature } = call;
  // An id already holding the separator would be split in the wrong place on its way back.
  if (signature === undefined || signature.length > MAX_THOUGHT_SIGNATURE_CHARS || id.includes(SIGNED_ID_SEPARATOR)) return id;
  return id + SIGNED_ID_SEPARATOR + Buffer.from(signature, 'utf8').toString('base64url');
}

export interface SplitId {
  readonly id: string;
  readonly signature: string | undefined;
}

/** An id a client sent back, split into the call's own id and its signature (signedId's inverse). */
export function splitSignedId(given: string): SplitId {
  const at = given.indexOf(SIGNED_ID_SEPARATOR);
  if (at <= 0) return { id: given, signature: undefined };
  const encoded = given.slice(at + SIGNED_ID_SEPARATOR.length);
  if (encoded === '' || encoded.length > MAX_ENCODED_CHARS) return { id: given, signature: undefined };
  const bytes = Buffer.from(encoded, 'base64url');
  // Only text this module wrote: any other character, or a non-canonical tail, is an ordinary id.
  if (bytes.toString('base64url') !== encoded) return { id: given, signature: undefined };
  const signature = bytes.toString('utf8');
  if (Buffer.byteLength(signature, 'utf8') !== bytes.length) return { id: given, signature: undefined };
  return { id: given.slice(0, at), signature };
}
