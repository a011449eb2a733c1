// countTokens for a provider that does not speak Google's API: no chat provider counts tokens
// without generating, so the gateway answers an estimate, documented as one in the README: a
// token per CHARS_PER_TOKEN characters of the request's text (every string but inline data), and
// IMAGE_TOKENS per inline image (Google's count for an image up to 384 pixels a side). Agents use
// the count to decide when to compress their history; an estimate serves that, an error stops them.
import { isRecord } from '../../translate/json.js';

export const CHARS_PER_TOKEN = 4;
export const IMAGE_TOKENS = 258;

/** The estimated totalTokens of a countTokens body (`contents`, or a whole `generateContentRequest`). */
export function estimateTokens(body: unknown): number {
  let chars = 0;
  let images = 0;
  const stack: unknown[] = [body];
  while (stack.length > 0) {
    const value = stack.pop();
    if (typeof value === 'string') chars += value.length;
    else if (Array.isArray(value)) for (const item of value) stack.push(item);
    else if (isRecord(value)) {
      for (const [key, item] of Object.entries(value)) {
        if (key === 'inlineData' || key === 'inline_data') images++;
        else if (key !== 'model') stack.push(item);
      }
    }
  }
  return Math.ceil(chars / CHARS_PER_TOKEN) + images * IMAGE_TOKENS;
}
