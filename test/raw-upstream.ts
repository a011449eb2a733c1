// A provider as bare as it gets, for tests of what the gateway itself does: a node:http server on
// 127.0.0.1 whose handler the test writes (it parses nothing unless asked, so the time and memory
// measured are the gateway's), the answers the translated providers send, and an in-process gateway
// with Fireworks, DeepSeek and Anthropic pointed at it.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { GatewayServer } from '../src/server.js';
import { startGateway } from './helpers.js';

/** A whole chat completion whose message is `content`. */
export function chatAnswer(content: string): string {
  return JSON.stringify({
    id: 'chatcmpl-1',
    object: 'chat.completion',
    created: 1,
    model: 'm',
    choices: [{ index: 0, message: { role: 'assistant', content }, finish_reason: 'stop' }],
    usage: { prompt_tokens: 1, completion_tokens: 1, total_tokens: 2 },
  });
}

export const CHAT_ANSWER = chatAnswer('ok');

export const ANTHROPIC_ANSWER = JSON.stringify({
  id: 'msg_1',
  type: 'message',
  role: 'assistant',
  model: 'claude-x',
  content: [{ type: 'text', text: 'ok' }],
  stop_reason: 'end_turn',
  stop_sequence: null,
  usage: { input_tokens: 1, output_tokens: 1 },
});

/** Whether a request reached the upstream as Anthropic's Messages API (else chat completions). */
export function isAnthropic(req: IncomingMessage): boolean {
  return req.url?.endsWith('/messages') === true;
}

/** Answers with a whole JSON body and its length. */
export function answerJson(res: ServerResponse, body: string): void {
  res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
  res.end(body);
}

export interface RawStack {
  /** The upstream's origin, http://127.0.0.1:PORT. */
  readonly upstreamUrl: string;
  /** The gateway's origin. */
  readonly origin: string;
  readonly gateway: GatewayServer;
  close(): Promise<void>;
}

/**
 * The upstream with `handle`, and a gateway that sends Fireworks and DeepSeek (chat completions
 * under /v1) and Anthropic (its Messages API) to it, with server keys; `env` adds settings.
 */
export async function startRawStack(handle: (req: IncomingMessage, res: ServerResponse) => void, env: Record<string, string> = {}): Promise<RawStack> {
  const upstream: Server = createServer(handle);
  await new Promise<void>((resolve) => upstream.listen(0, '127.0.0.1', resolve));
  const upstreamUrl = `http://127.0.0.1:${(upstream.address() as AddressInfo).port}`;
  const { server, url } = await startGateway({
    FIREWORKS_BASE_URL: `${upstreamUrl}/v1`,
    FIREWORKS_API_KEY: 'fw-key',
    DEEPSEEK_BASE_URL: `${upstreamUrl}/v1`,
    DEEPSEEK_API_KEY: 'deepseek-key',
    ANTHROPIC_BASE_URL: upstreamUrl,
    ANTHROPIC_API_KEY: 'sk-ant-key',
    ...env,
  });
  return {
    upstreamUrl,
    origin: url.slice(0, -'/v1'.length),
    gateway: server,
    async close() {
      await server.shutdown(0);
      await new Promise<void>((resolve) => upstream.close(() => resolve()));
    },
  };
}
