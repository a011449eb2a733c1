// Usage is read from the bytes as they pass, wherever the provider's chunks happen to split them.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ANTHROPIC_USAGE, RESPONSES_USAGE, UsageObserver, type UsageDialect } from '../src/stream.js';

const STREAM =
  'data: {"choices":[{"delta":{"content":"hi"}}],"usage":null}\n\n' +
  'data: {"choices":[],"usage":{"prompt_tokens":12,"prompt_tokens_details":null,"completion_tokens":34,"total_tokens":46}}\n\n' +
  'data: [DONE]\n\n';

function observe(chunks: Buffer[], dialect?: UsageDialect): UsageObserver {
  const observer = new UsageObserver(dialect);
  for (const chunk of chunks) observer.push(chunk);
  return observer;
}

describe('UsageObserver', () => {
  test('every split of a stream into three chunks gives the same usage', () => {
    const bytes = Buffer.from(STREAM);
    let checked = 0;
    for (let a = 0; a <= bytes.length; a++) {
      for (let b = a; b <= bytes.length; b++) {
        const { usage } = observe([bytes.subarray(0, a), bytes.subarray(a, b), bytes.subarray(b)]);
        assert.deepEqual(usage, { promptTokens: 12, completionTokens: 34 }, `split at ${a}, ${b}`);
        checked++;
      }
    }
    assert.ok(checked > 10_000);
  });

  test('one byte at a time', () => {
    const bytes = Buffer.from(STREAM);
    const chunks = Array.from(bytes, (_, i) => bytes.subarray(i, i + 1));
    assert.deepEqual(observe(chunks).usage, { promptTokens: 12, completionTokens: 34 });
  });

  test("Anthropic's stream: input tokens (with the cache write) from message_start, output tokens from message_delta, in any two chunks", () => {
    const events = [
      'event: message_start\ndata: {"type":"message_start","message":{"id":"msg_1","usage":{"input_tokens":25,"cache_creation_input_tokens":3,"output_tokens":1}}}\n\n',
      'event: content_block_delta\ndata: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"hi"}}\n\n',
      'event: message_delta\ndata: {"type":"message_delta","delta":{"stop_reason":"end_turn"},"usage":{"output_tokens":15}}\n\n',
    ];
    const split = events[0]!.length + events[1]!.length;
    const bytes = Buffer.from(events.join(''));
    for (let at = 0; at <= split + 10; at++) {
      const { usage } = observe([bytes.subarray(0, at), bytes.subarray(at)], ANTHROPIC_USAGE);
      assert.deepEqual(usage, { promptTokens: 28, completionTokens: 15, cacheWriteTokens: 3 }, `split at ${at}`);
    }
  });

  test("the Responses API's usage names", () => {
    const done = 'event: response.completed\ndata: {"type":"response.completed","response":{"usage":{"input_tokens":9,"input_tokens_details":{"cached_tokens":0},"output_tokens":4,"total_tokens":13}}}\n\n';
    assert.deepEqual(observe([Buffer.from(done)], RESPONSES_USAGE).usage, { promptTokens: 9, completionTokens: 4, cacheReadTokens: 0 });
  });

  test('a whole JSON body', () => {
    const body = JSON.stringify({ id: 'x', choices: [{ message: { content: 'usage is "usage"' } }], usage: { prompt_tokens: 5, completion_tokens: 7, total_tokens: 12 } });
    assert.deepEqual(observe([Buffer.from(body)]).usage, { promptTokens: 5, completionTokens: 7 });
  });

  test('read from bytes when the usage object is whole in one chunk, and from text when it is split, alike', () => {
    const bodies = [
      '{"usage": {"prompt_tokens" :\t9 ,\n "completion_tokens":\r\n 11}}',
      '{"usage":{"prompt_tokens":3,"prompt_tokens_details":{"cached_tokens":1},"completion_tokens":4}}',
      '{"usage":{"completion_tokens":8}}',
      '{"usage":{"prompt_tokens":"x","note":"\\"prompt_tokens\\"","prompt_tokens":6,"completion_tokens":2}}',
      '{"usage":{"total_tokens":5}}',
      '{"usage":{"prompt_tokens":123456789,"completion_tokens":0}}',
    ];
    for (const body of bodies) {
      const bytes = Buffer.from(body);
      const at = bytes.indexOf('"usage"') + '"usage"'.length;
      const whole = observe([bytes]).usage;
      const split = observe([bytes.subarray(0, at), bytes.subarray(at)]).usage;
      assert.deepEqual(whole, split, body);
    }
    assert.deepEqual(observe([Buffer.from(bodies[0]!)]).usage, { promptTokens: 9, completionTokens: 11 });
    assert.deepEqual(observe([Buffer.from(bodies[1]!)]).usage, { promptTokens: 3, completionTokens: 4, cacheReadTokens: 1 });
    assert.deepEqual(observe([Buffer.from(bodies[2]!)]).usage, { promptTokens: 0, completionTokens: 8 });
    assert.deepEqual(observe([Buffer.from(bodies[3]!)]).usage, { promptTokens: 6, completionTokens: 2 });
    assert.equal(observe([Buffer.from(bodies[4]!)]).usage, undefined);
  });

  test('a whole body is read as a stream of one chunk would be', () => {
    const padding = 'x'.repeat(6_000);
    const bodies = [
      JSON.stringify({ choices: [], usage: { prompt_tokens: 5, completion_tokens: 7 } }),
      JSON.stringify({ usage: { prompt_tokens: 1, completion_tokens: 2 }, choices: [{ text: padding }] }),
      JSON.stringify({ usage: { prompt_tokens: 1, completion_tokens: 2 }, note: 'the "usage" key', tail: padding }),
      JSON.stringify({ data: [{ embedding: [0.1, 0.2] }], usage: { prompt_tokens: 8, total_tokens: 8 } }),
      JSON.stringify({ choices: [{ text: padding }] }),
      `{"usage":{"prompt_tokens":3,${' '.repeat(5_000)}"completion_tokens":4}}`,
      '',
    ];
    for (const body of bodies) {
      const whole = new UsageObserver();
      whole.readBody(Buffer.from(body));
      assert.deepEqual(whole.usage, observe([Buffer.from(body)]).usage, body.slice(0, 80));
    }
    const first = new UsageObserver();
    first.readBody(Buffer.from(bodies[1]!));
    assert.deepEqual(first.usage, { promptTokens: 1, completionTokens: 2 });
  });

  test('no usage anywhere', () => {
    assert.equal(observe([Buffer.from('data: {"choices":[]}\n\ndata: [DONE]\n\n')]).usage, undefined);
  });
});
