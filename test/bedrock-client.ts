// AWS's own Bedrock client, pointed at the Bedrock simulator: the simulator's credentials, one
// attempt, and HTTP/1.1 (the client's default handler speaks HTTP/2, which needs TLS; the simulator
// is plain HTTP).
import { BedrockRuntimeClient, type BedrockRuntimeClientConfig } from '@aws-sdk/client-bedrock-runtime';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import { BEDROCK_SIM_ACCESS_KEY_ID, BEDROCK_SIM_SECRET_ACCESS_KEY } from '../sim/bedrock.js';

export function bedrockClient(endpoint: string, config: Partial<BedrockRuntimeClientConfig> = {}): BedrockRuntimeClient {
  return new BedrockRuntimeClient({
    region: 'us-east-1',
    endpoint,
    credentials: { accessKeyId: BEDROCK_SIM_ACCESS_KEY_ID, secretAccessKey: BEDROCK_SIM_SECRET_ACCESS_KEY },
    maxAttempts: 1,
    requestHandler: new NodeHttpHandler(),
    ...config,
  });
}
