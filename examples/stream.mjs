// A streamed chat completion through the gateway with the official openai package.
// Run: node examples/stream.mjs  (env: FIREWORKS_API_KEY, GATEWAY_URL)
import OpenAI from "openai";

const client = new OpenAI({
  baseURL: process.env.GATEWAY_URL || "http://localhost:3000/v1/",
  // "use-server-key" tells the gateway to use its own FIREWORKS_API_KEY; an empty variable counts
  // as unset (the openai package refuses an empty key).
  apiKey: process.env.FIREWORKS_API_KEY || "use-server-key",
  defaultHeaders: { "x-provider": "fireworks" },
});

const stream = await client.chat.completions.create({
  model: "accounts/fireworks/models/llama-v3p1-8b-instruct",
  messages: [{ role: "user", content: "Write a haiku about fireworks." }],
  stream: true,
  stream_options: { include_usage: true },
});

for await (const chunk of stream) {
  const text = chunk.choices[0]?.delta?.content;
  if (text) process.stdout.write(text);
  if (chunk.usage) console.log("\nusage:", chunk.usage);
}
