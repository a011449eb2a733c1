// A chat completion through the gateway with the official openai package.
// Run: node examples/chat.mjs  (env: FIREWORKS_API_KEY, GATEWAY_URL)
import OpenAI from "openai";

const client = new OpenAI({
  baseURL: process.env.GATEWAY_URL || "http://localhost:3000/v1/",
  // "use-server-key" tells the gateway to use its own FIREWORKS_API_KEY; an empty variable counts
  // as unset (the openai package refuses an empty key).
  apiKey: process.env.FIREWORKS_API_KEY || "use-server-key",
  defaultHeaders: { "x-provider": "fireworks" },
});

const completion = await client.chat.completions.create({
  model: "accounts/fireworks/models/llama-v3p1-8b-instruct",
  messages: [{ role: "user", content: "Say hello in three words." }],
  max_tokens: 64,
});

console.log(completion.choices[0].message.content);
console.log("usage:", completion.usage);
console.log("request id:", completion._request_id);
