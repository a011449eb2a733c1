// AWS Bedrock's Converse and ConverseStream APIs behind the OpenAI chat completions API: a
// translating provider that signs its own requests (SigV4) and frames its streams as AWS event
// streams. Sources: https://docs.aws.amazon.com/bedrock/latest/APIReference/API_runtime_Converse.html,
// https://docs.aws.amazon.com/bedrock/latest/APIReference/API_runtime_ConverseStream.html.
// The pieces: request.ts, answer.ts, stream.ts, errors.ts (translation), auth.ts (credentials,
// region, signature).
import { BEDROCK_FACTS } from '../../observe/facts.js';
import type { ChatTranslation, ProviderAdapter, TranslateContext, TranslatingSpec } from '../types.js';
import { translateAnswer } from './answer.js';
import { authorizeBedrock } from './auth.js';
import { httpError } from './errors.js';
import { translateRequest } from './request.js';
import { BedrockStreamTranslator } from './stream.js';

export const bedrockAdapter: ProviderAdapter = {
  framing: 'aws-eventstream',
  facts: BEDROCK_FACTS,
  errorTypeHeader: 'x-amzn-errortype',
  imageUrls: 'bytes',
  chat(body: Record<string, unknown>, context: TranslateContext): ChatTranslation {
    const request = translateRequest(body, context.model);
    const { includeUsage, jsonTool } = request;
    const model = context.model;
    return {
      path: request.path,
      body: request.body,
      headers: [],
      dropped: request.dropped,
      refused: [],
      answer: (text) => translateAnswer(text, model, jsonTool),
      stream: (redact) => new BedrockStreamTranslator({ model, includeUsage, jsonTool }, redact),
    };
  },
  error: httpError,
  authorize: authorizeBedrock,
};

export const bedrock: TranslatingSpec = Object.freeze({
  name: 'bedrock',
  kind: 'translating',
  // Nominal: requests go to the region's endpoint (bedrock-runtime.<region>.amazonaws.com) unless
  // BEDROCK_BASE_URL names one (a VPC endpoint, a simulator).
  defaultBaseUrl: 'https://bedrock-runtime.us-east-1.amazonaws.com',
  baseUrlEnv: 'BEDROCK_BASE_URL',
  // A Bedrock API key on the server: sent as Authorization: Bearer, as AWS's SDKs do.
  apiKeyEnv: 'AWS_BEARER_TOKEN_BEDROCK',
  requestIdHeader: 'x-amzn-requestid',
  options: {
    region: {
      env: 'AWS_REGION',
      fallbackEnv: 'AWS_DEFAULT_REGION',
      default: 'us-east-1',
      description: 'The AWS region of Bedrock requests without an x-aws-region header.',
    },
    accessKeyId: { env: 'AWS_ACCESS_KEY_ID', default: '', secret: true, description: 'Server-side AWS access key id (SigV4).' },
    secretAccessKey: { env: 'AWS_SECRET_ACCESS_KEY', default: '', secret: true, description: 'Server-side AWS secret access key (SigV4).' },
    sessionToken: { env: 'AWS_SESSION_TOKEN', default: '', secret: true, description: 'Server-side AWS session token, with temporary credentials.' },
  },
  docs: 'https://docs.aws.amazon.com/bedrock/latest/APIReference/API_runtime_Converse.html',
  adapter: bedrockAdapter,
});
