// Gemini 3's thought signatures kept across turns on the translated paths: a tool call's signature
// (Google's OpenAI-compatible endpoint, `extra_content.google.thought_signature`) reaches the
// client and comes back with the call on the next turn, or Google refuses that turn with a 400.
// Driven by the real clients (@google/genai, @anthropic-ai/sdk, openai's Responses API) through
// the gateway to the simulator's gemini flavour, whose gemini-3 models sign their tool calls and
// check the signatures; and the id encoding (src/inbound/signatures.ts) as a pure function.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import Anthropic from '@anthropic-ai/sdk';
import { FunctionCallingConfigMode, GoogleGenAI, Type, type Content, type Part } from '@google/genai';
import OpenAI from 'openai';
import { FAMILY_SIM_API_KEY, startOpenAICompatibleSim, type OpenAICompatibleSim } from '../sim/openai-compatible.js';
import { startFireworksSim, type FireworksSim } from '../sim/fireworks.js';
import { thoughtSignature } from '../sim/thought-signatures.js';
import { MAX_THOUGHT_SIGNATURE_CHARS, SIGNED_ID_SEPARATOR, signedId, splitSignedId } from '../src/inbound/signatures.js';
import type { GatewayServer } from '../src/server.js';
import { geminiApi } from '../src/inbound/gemini/index.js';
import { ItemMemory } from '../src/inbound/openai-responses/memory.js';
import { KEY, MODEL, assertBadRequest, startGateway } from './helpers.js';

/** A model the simulator's gemini flavour signs tool calls for, and one it does not. */
const SIGNING = 'gemini/gemini-3-pro-preview';
const PLAIN = 'gemini/gemini-2.0-flash';
/** Anthropic's rule for tool_use ids. */
const TOOL_USE_ID = /^[a-zA-Z0-9_-]+$/;

let sim: OpenAICompatibleSim;
let fireworks: FireworksSim;
let gateway: GatewayServer;
let origin: string;

before(async () => {
  sim = await startOpenAICompatibleSim({ port: 0, flavour: 'gemini' });
  fireworks = await startFireworksSim({ port: 0 });
  // The Gemini API translated to Google's OpenAI-compatible layer (by default it goes to Google's own
  // API, bytes untouched: test/gemini-native.test.ts).
  const started = await startGateway({ GEMINI_BASE_URL: sim.url, FIREWORKS_BASE_URL: fireworks.url, GEMINI_NATIVE_API: 'translate' });
  gateway = started.server;
  origin = new URL(started.url).origin;
});
after(async () => {
  await gateway.shutdown(0);
  await sim.close();
  await fireworks.close();
});

function lastChat(on: { requests: readonly { json?: unknown }[] } = sim): Record<string, any> {
  return on.requests.at(-1)!.json as Record<string, any>;
}

const WEATHER_SCHEMA: { type: 'object'; properties: Record<string, unknown>; required: string[] } = { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] };

describe('the simulator stands in for Gemini 3 behind Google\'s OpenAI-compatible endpoint', () => {
  test('a gemini-3 tool call carries a signature; a later turn without it is Google\'s 400, whose message the client reads', async () => {
    const client = new OpenAI({ baseURL: `${origin}/v1`, apiKey: FAMILY_SIM_API_KEY, maxRetries: 0 });
    const tools = [{ type: 'function' as const, function: { name: 'get_weather', parameters: WEATHER_SCHEMA } }];
    const question = { role: 'user' as const, content: 'Weather in Paris?' };
    const first = await client.chat.completions.create({ model: SIGNING, messages: [question], tools });
    const call = first.choices[0]!.message.tool_calls![0]! as Record<string, any>;
    assert.equal(call.extra_content.google.thought_signature, thoughtSignature(call.id));

    const unsigned = { id: call.id, type: 'function' as const, function: call.function };
    const answer = { role: 'tool' as const, tool_call_id: call.id, content: '21 degrees' };
    await assert.rejects(
      client.chat.completions.create({ model: SIGNING, messages: [question, { role: 'assistant', content: null, tool_calls: [unsigned] }, answer], tools }),
      (error: unknown) => {
        assert.ok(error instanceof OpenAI.APIError, String(error));
        assert.equal(error.status, 400);
        assert.match(error.message, /Function call is missing a thought_signature in functionCall parts/);
        return true;
      },
    );
    // The chat client's own bytes pass through: the signature it kept is enough.
    const second = await client.chat.completions.create({ model: SIGNING, messages: [question, { role: 'assistant', content: null, tool_calls: [call as any] }, answer], tools });
    assert.equal(second.choices[0]!.message.content, 'Tool result received: 21 degrees');
  });
});

describe('@google/genai (the Gemini API translated to chat)', () => {
  const ai = (apiKey = FAMILY_SIM_API_KEY): GoogleGenAI => new GoogleGenAI({ apiKey, httpOptions: { baseUrl: origin } });
  const tools = [{ functionDeclarations: [{ name: 'get_weather', parameters: { type: Type.OBJECT, properties: { city: { type: Type.STRING } }, required: ['city'] } }] }];
  const question: Content = { role: 'user', parts: [{ text: 'What is the weather in Paris?' }] };

  /** The second turn: the model's turn as the SDK gave it, then the function's response. */
  function secondTurn(modelTurn: Content): Content[] {
    const call = modelTurn.parts!.find((part) => part.functionCall !== undefined)!.functionCall!;
    return [question, modelTurn, { role: 'user', parts: [{ functionResponse: { id: call.id!, name: call.name!, response: { temp: 21 } } }] }];
  }

  test('generateContent: the part carries the thoughtSignature, and the next turn sends it back on its tool call', async () => {
    const config = { tools, toolConfig: { functionCallingConfig: { mode: FunctionCallingConfigMode.ANY } } };
    const first = await ai().models.generateContent({ model: SIGNING, contents: [question], config });
    const part = first.candidates![0]!.content!.parts!.find((p) => p.functionCall !== undefined)!;
    assert.equal(part.thoughtSignature, thoughtSignature(part.functionCall!.id!));

    const second = await ai().models.generateContent({ model: SIGNING, contents: secondTurn(first.candidates![0]!.content!), config: { tools } });
    assert.equal(second.text, 'Tool result received: {"temp":21}');
    assert.equal(lastChat().messages[1].tool_calls[0].extra_content.google.thought_signature, part.thoughtSignature);
  });

  test('generateContentStream: the signature arrives with the call, and the next turn succeeds', async () => {
    const config = { tools, toolConfig: { functionCallingConfig: { mode: FunctionCallingConfigMode.ANY } } };
    const parts: Part[] = [];
    for await (const chunk of await ai().models.generateContentStream({ model: SIGNING, contents: [question], config })) {
      for (const part of chunk.candidates?.[0]?.content?.parts ?? []) parts.push(part);
    }
    const part = parts.find((p) => p.functionCall !== undefined)!;
    assert.equal(part.thoughtSignature, thoughtSignature(part.functionCall!.id!));
    const modelTurn: Content = { role: 'model', parts: parts.filter((p) => p.functionCall !== undefined) };
    let text = '';
    for await (const chunk of await ai().models.generateContentStream({ model: SIGNING, contents: secondTurn(modelTurn), config: { tools } })) text += chunk.text ?? '';
    assert.equal(text, 'Tool result received: {"temp":21}');
  });

  test('a provider that takes no signatures is not sent one', async () => {
    const contents: Content[] = [
      question,
      { role: 'model', parts: [{ functionCall: { id: 'call_1', name: 'get_weather', args: { city: 'Paris' } }, thoughtSignature: 'c2lnbmF0dXJl' }] },
      { role: 'user', parts: [{ functionResponse: { id: 'call_1', name: 'get_weather', response: { temp: 21 } } }] },
    ];
    const answer = await ai(KEY).models.generateContent({ model: `fireworks/${MODEL}`, contents, config: { tools } });
    assert.equal(answer.text, 'Tool result received: {"temp":21}');
    const call = lastChat(fireworks).messages[1].tool_calls[0];
    assert.deepEqual(Object.keys(call).sort(), ['function', 'id', 'type']);
  });
});

describe('@anthropic-ai/sdk (the Messages API translated to chat): the signature rides in the tool_use id', () => {
  const client = (): Anthropic => new Anthropic({ baseURL: origin, apiKey: FAMILY_SIM_API_KEY, maxRetries: 0 });
  const tools = [{ name: 'get_weather', description: 'The weather in a city', input_schema: WEATHER_SCHEMA }];
  const question: Anthropic.MessageParam = { role: 'user', content: 'What is the weather in Paris?' };

  function secondTurn(toolUse: Anthropic.ToolUseBlock): Anthropic.MessageParam[] {
    return [
      question,
      { role: 'assistant', content: [toolUse] },
      { role: 'user', content: [{ type: 'tool_result', tool_use_id: toolUse.id, content: '21 degrees' }] },
    ];
  }

  test('messages.create: the id is the call\'s own with its signature, within Anthropic\'s characters; the next turn succeeds', async () => {
    const first = await client().messages.create({ model: SIGNING, max_tokens: 256, messages: [question], tools });
    const toolUse = first.content.find((block): block is Anthropic.ToolUseBlock => block.type === 'tool_use')!;
    assert.match(toolUse.id, TOOL_USE_ID);
    const { id, signature } = splitSignedId(toolUse.id);
    assert.equal(signature, thoughtSignature(id));

    const second = await client().messages.create({ model: SIGNING, max_tokens: 256, messages: secondTurn(toolUse), tools });
    assert.deepEqual(second.content, [{ type: 'text', text: 'Tool result received: 21 degrees' }]);
    const messages = lastChat().messages;
    assert.deepEqual(messages[1].tool_calls[0].extra_content, { google: { thought_signature: signature } });
    assert.equal(messages[1].tool_calls[0].id, id);
    assert.equal(messages[2].tool_call_id, id);
  });

  test('messages.stream: the streamed tool_use carries the signature too', async () => {
    const first = await client().messages.stream({ model: SIGNING, max_tokens: 256, messages: [question], tools }).finalMessage();
    const toolUse = first.content.find((block): block is Anthropic.ToolUseBlock => block.type === 'tool_use')!;
    assert.match(toolUse.id, TOOL_USE_ID);
    assert.ok(toolUse.id.includes(SIGNED_ID_SEPARATOR), toolUse.id);
    const second = await client().messages.stream({ model: SIGNING, max_tokens: 256, messages: secondTurn(toolUse), tools }).finalMessage();
    assert.deepEqual(second.content, [{ type: 'text', text: 'Tool result received: 21 degrees' }]);
  });

  test('a turn whose id lost its signature is Google\'s 400, its message passed on', async () => {
    const first = await client().messages.create({ model: SIGNING, max_tokens: 256, messages: [question], tools });
    const toolUse = first.content.find((block): block is Anthropic.ToolUseBlock => block.type === 'tool_use')!;
    const bare = { ...toolUse, id: splitSignedId(toolUse.id).id };
    await assert.rejects(client().messages.create({ model: SIGNING, max_tokens: 256, messages: secondTurn(bare), tools }), (error: unknown) => {
      assert.ok(error instanceof Anthropic.APIError, String(error));
      assert.equal(error.status, 400);
      assert.match(error.message, /missing a thought_signature/);
      return true;
    });
  });

  test('a call without a signature keeps its id byte for byte', async () => {
    const first = await client().messages.create({ model: PLAIN, max_tokens: 256, messages: [question], tools });
    const toolUse = first.content.find((block): block is Anthropic.ToolUseBlock => block.type === 'tool_use')!;
    // The simulator's own id, as it made it: `call_` and 24 hex digits.
    assert.match(toolUse.id, /^call_[0-9a-f]{24}$/);
  });
});

describe('openai (the Responses API translated to chat): the signature rides in the call_id', () => {
  const client = (): OpenAI => new OpenAI({ baseURL: `${origin}/v1`, apiKey: FAMILY_SIM_API_KEY, maxRetries: 0 });
  const tools = [{ type: 'function' as const, name: 'get_weather', parameters: WEATHER_SCHEMA, strict: false }];
  const question = { role: 'user' as const, content: 'What is the weather in Paris?' };

  function secondTurn(call: OpenAI.Responses.ResponseFunctionToolCall): OpenAI.Responses.ResponseInput {
    return [question, { type: 'function_call', call_id: call.call_id, name: call.name, arguments: call.arguments }, { type: 'function_call_output', call_id: call.call_id, output: '21 degrees' }];
  }

  test('responses.create: the call_id carries the signature; the next turn succeeds', async () => {
    const first = await client().responses.create({ model: SIGNING, input: [question], tools });
    const call = first.output.find((item): item is OpenAI.Responses.ResponseFunctionToolCall => item.type === 'function_call')!;
    const { id, signature } = splitSignedId(call.call_id);
    assert.equal(signature, thoughtSignature(id));
    const second = await client().responses.create({ model: SIGNING, input: secondTurn(call), tools });
    assert.equal(second.output_text, 'Tool result received: 21 degrees');
    assert.equal(lastChat().messages[1].tool_calls[0].id, id);
  });

  test('responses.stream: the streamed call carries it too', async () => {
    const first = await client().responses.stream({ model: SIGNING, input: [question], tools }).finalResponse();
    const call = first.output.find((item) => item.type === 'function_call') as OpenAI.Responses.ResponseFunctionToolCall;
    assert.ok(splitSignedId(call.call_id).signature !== undefined, call.call_id);
    const second = await client().responses.stream({ model: SIGNING, input: secondTurn(call), tools }).finalResponse();
    assert.equal(second.output_text, 'Tool result received: 21 degrees');
  });
});

describe('the id encoding', () => {
  test('round trip: any signature, within Anthropic\'s id characters', () => {
    const signatures = ['c2lnbmF0dXJl', 'a+b/c==', 'ünïcødé ✓', 'x'.repeat(MAX_THOUGHT_SIGNATURE_CHARS), Buffer.from([0, 1, 2, 250]).toString('latin1')];
    for (const id of ['call_abc123', 'toolu_01A-b_c', 'function-call-1234567890']) {
      for (const signature of signatures) {
        const signed = signedId({ id, signature });
        assert.match(signed, TOOL_USE_ID);
        assert.deepEqual(splitSignedId(signed), { id, signature });
      }
    }
  });

  test('ids without a signature are unchanged, both ways', () => {
    for (const id of ['call_abc', 'toolu_01XYZ', 'a__sig__', '__sig__YWJj', 'x__sig__not base64!', 'x__sig__YWJjZA=', 'x__sig__YWJjZB']) {
      assert.equal(signedId({ id, signature: undefined }), id);
      assert.deepEqual(splitSignedId(id), { id, signature: undefined }, id);
    }
  });

  test('a signature past the bound, or an id already holding the separator, is not carried', () => {
    assert.equal(signedId({ id: 'call_1', signature: 'x'.repeat(MAX_THOUGHT_SIGNATURE_CHARS + 1) }), 'call_1');
    assert.equal(signedId({ id: `call${SIGNED_ID_SEPARATOR}1`, signature: 'abc' }), `call${SIGNED_ID_SEPARATOR}1`);
    const tooLong = `call_1${SIGNED_ID_SEPARATOR}${Buffer.from('x'.repeat(MAX_THOUGHT_SIGNATURE_CHARS + 3)).toString('base64url')}`;
    assert.deepEqual(splitSignedId(tooLong), { id: tooLong, signature: undefined });
  });
});

describe('the Gemini API request, translated', () => {
  const context = { model: 'gemini-3-pro-preview', outputItems: new ItemMemory(), bodyBytes: 0, maxBodyBytes: Infinity, client: () => '', thinking: 'drop' as const };
  const contents = (signature: unknown) => [
    { role: 'user', parts: [{ text: 'Weather?' }] },
    { role: 'model', parts: [{ functionCall: { id: 'c1', name: 'weather', args: {} }, thoughtSignature: signature }, { functionCall: { id: 'c2', name: 'weather', args: {} } }] },
  ];

  test('a functionCall part\'s thoughtSignature goes on its tool call alone, for a provider that takes it', () => {
    const { chat, dropped } = geminiApi('whole').toChat({ contents: contents('c2ln') }, { ...context, thoughtSignatures: true });
    const calls = (chat.messages as Record<string, any>[])[1]!.tool_calls;
    assert.deepEqual(calls[0].extra_content, { google: { thought_signature: 'c2ln' } });
    assert.equal(calls[1].extra_content, undefined);
    assert.deepEqual(dropped, []);
  });

  test('a signature that is not a string is refused', () => {
    assertBadRequest(() => geminiApi('whole').toChat({ contents: contents(42) }, { ...context, thoughtSignatures: true }), 'contents.1.parts.0.thoughtSignature');
  });
});
