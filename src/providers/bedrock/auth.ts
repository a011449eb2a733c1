// Who a Bedrock request is from, where it goes, and its signature. Signing is AWS's own
// @smithy/signature-v4 (SigV4, service "bedrock"); nothing of it is written here.
// Sources: https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_sigv-create-signed-request.html
// (the canonical URI of every service but S3 encodes the already-encoded path again, which
// SignatureV4 does by default: model ids with ":" and ARNs are encoded once in the path, once more
// when signed), https://docs.aws.amazon.com/bedrock/latest/userguide/api-keys-use.html (API keys
// as Authorization: Bearer; long-term keys begin "ABSK", short-term ones "bedrock-api-key-"),
// https://docs.aws.amazon.com/general/latest/gr/bedrock.html (bedrock-runtime.<region>.amazonaws.com).
import { Hash } from '@smithy/hash-node';
import { SignatureV4 } from '@smithy/signature-v4';
import { GatewayError } from '../../errors.js';
import { safeEcho } from '../../redact.js';
import type { AuthorizeContext, Authorized, OutgoingRequest } from '../types.js';

/** The prefixes of Bedrock API keys; any other Bearer token (an SDK's placeholder) is not one. */
const API_KEY_PREFIXES = ['ABSK', 'bedrock-api-key-'];
/** An AWS region name: what may go into the endpoint's host. */
const REGION = /^[a-z]{2}(?:-[a-z]+)+-\d{1,2}$/;
const DEFAULT_REGION = 'us-east-1';
const BEARER = 'bearer ';

interface Credentials {
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
  readonly sessionToken?: string;
}

/** The Bedrock API key the client sent as its Bearer token, if it has that form. */
function clientApiKey(authorization: string | undefined): string | undefined {
  if (authorization === undefined || authorization.length <= BEARER.length) return undefined;
  if (authorization.slice(0, BEARER.length).toLowerCase() !== BEARER) return undefined;
  const token = authorization.slice(BEARER.length).trim();
  return API_KEY_PREFIXES.some((prefix) => token.startsWith(prefix)) ? token : undefined;
}

function header(context: AuthorizeContext, name: string): string | undefined {
  const value = context.headers[name];
  return typeof value === 'string' && value.trim() !== '' ? value.trim() : undefined;
}

/**
 * Precedence: what the client sends wins over the server's. The client's `x-aws-*` headers are one
 * set (a session token from the environment never joins them), or its Bedrock API key; then the
 * server's API key (AWS_BEARER_TOKEN_BEDROCK, which AWS's SDKs also prefer when set), then the
 * server's AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY / AWS_SESSION_TOKEN. `x-aws-region` picks the
 * region for any of them.
 */
export async function authorizeBedrock(request: OutgoingRequest, context: AuthorizeContext): Promise<Authorized> {
  const region = header(context, 'x-aws-region') ?? (context.options.region || DEFAULT_REGION);
  if (!REGION.test(region)) {
    throw new GatewayError(400, `${safeEcho(region)} is not an AWS region name (such as us-east-1).`, 'invalid_region', 'x-aws-region');
  }
  const baseUrl = context.configuredBaseUrl ?? new URL(`https://bedrock-runtime.${region}.amazonaws.com`);
  const basePath = baseUrl.pathname === '/' ? '' : baseUrl.pathname;

  const accessKeyId = header(context, 'x-aws-access-key-id');
  const secretAccessKey = header(context, 'x-aws-secret-access-key');
  if ((accessKeyId === undefined) !== (secretAccessKey === undefined)) {
    throw new GatewayError(
      401,
      'Send both x-aws-access-key-id and x-aws-secret-access-key (and x-aws-session-token for temporary credentials), or neither.',
      'incomplete_credentials',
    );
  }
  let credentials: Credentials | undefined;
  let apiKey: string | undefined;
  if (accessKeyId !== undefined && secretAccessKey !== undefined) {
    const sessionToken = header(context, 'x-aws-session-token');
    credentials = sessionToken === undefined ? { accessKeyId, secretAccessKey } : { accessKeyId, secretAccessKey, sessionToken };
  } else {
    apiKey = clientApiKey(header(context, 'authorization')) ?? context.serverKey;
    if (apiKey === undefined && context.options.accessKeyId && context.options.secretAccessKey) {
      const sessionToken = context.options.sessionToken || undefined;
      credentials = { accessKeyId: context.options.accessKeyId, secretAccessKey: context.options.secretAccessKey, ...(sessionToken ? { sessionToken } : {}) };
    }
  }

  const headers: Record<string, string> = { ...request.headers, host: baseUrl.host };
  if (credentials === undefined) {
    if (apiKey === undefined) {
      throw new GatewayError(
        401,
        'No AWS credentials for Bedrock. Send x-aws-access-key-id and x-aws-secret-access-key (with x-aws-session-token ' +
          'for temporary credentials) or a Bedrock API key as "Authorization: Bearer ABSK...", or start the gateway with ' +
          'AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or AWS_BEARER_TOKEN_BEDROCK, set.',
        'missing_credentials',
      );
    }
    return { baseUrl, headers: ['host', baseUrl.host, 'authorization', `Bearer ${apiKey}`], secrets: [apiKey] };
  }

  const signer = new SignatureV4({ service: 'bedrock', region, credentials, sha256: Hash.bind(null, 'sha256') });
  const signed = await signer.sign({
    method: request.method,
    protocol: baseUrl.protocol,
    hostname: baseUrl.hostname,
    ...(baseUrl.port ? { port: Number(baseUrl.port) } : {}),
    path: basePath + splitPath(request.path),
    query: splitQuery(request.path),
    headers,
    body: request.body,
  });
  // What the signer added (authorization, x-amz-date, x-amz-security-token, x-amz-content-sha256), and the host it signed.
  const added: string[] = ['host', baseUrl.host];
  for (const [name, value] of Object.entries(signed.headers)) {
    if (!Object.hasOwn(request.headers, name) && name !== 'host') added.push(name, String(value));
  }
  const secrets = credentials.sessionToken === undefined ? [credentials.secretAccessKey] : [credentials.secretAccessKey, credentials.sessionToken];
  return { baseUrl, headers: added, secrets };
}

function splitPath(path: string): string {
  const query = path.indexOf('?');
  return query === -1 ? path : path.slice(0, query);
}

function splitQuery(path: string): Record<string, string> {
  const query = path.indexOf('?');
  return query === -1 ? {} : Object.fromEntries(new URLSearchParams(path.slice(query + 1)));
}
