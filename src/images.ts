// Image URLs fetched by the gateway, for providers that take only image bytes (Bedrock), and only
// when the operator turns it on (FETCH_IMAGE_URLS). A fetched URL comes from the client, so the
// fetch is bounded in size and time, follows no redirect, and by default refuses every address that
// is not public: the check runs in the DNS lookup the connection itself uses, so a name cannot
// resolve to a public address for the check and a private one for the connection. What the fetched
// images add to a request counts toward its body limit, and what all requests hold at once toward a
// gateway-wide total, so a small request naming large images cannot hold more than a large body would.
import { lookup as dnsLookup, type LookupAddress } from 'node:dns';
import { BlockList, isIP, type LookupFunction } from 'node:net';
import { Agent, request } from 'undici';
import { GatewayError } from './errors.js';
import { safeEcho } from './redact.js';

export type ImageFetchMode = 'off' | 'public' | 'any';

/** Image URLs fetched for one request (Bedrock's Converse takes at most 20 images). */
export const MAX_FETCHED_IMAGES = 20;
/** Characters of an image's URL quoted in an error (its origin and path; never its query). */
const MAX_ECHOED_URL_CHARS = 200;
/** Of a refused answer (not 200, not an image), what is read to keep the connection for reuse. */
const MAX_DUMPED_BYTES = 64 * 1024;
/** Seconds a client is asked to wait when the gateway holds as many image bytes as it may. */
const IMAGES_BUSY_RETRY_AFTER_S = '1';

/** Addresses that are not the public internet: loopback, private, link-local, CGNAT, unspecified, multicast, reserved. */
const NOT_PUBLIC = new BlockList();
for (const [network, prefix] of [
  ['0.0.0.0', 8], ['10.0.0.0', 8], ['100.64.0.0', 10], ['127.0.0.0', 8], ['169.254.0.0', 16], ['172.16.0.0', 12],
  ['192.0.0.0', 24], ['192.168.0.0', 16], ['198.18.0.0', 15], ['224.0.0.0', 3],
] as const) NOT_PUBLIC.addSubnet(network, prefix, 'ipv4');
// ::/96 holds the unspecified address, loopback and the deprecated IPv4-compatible form (::127.0.0.1);
// NAT64's well-known and local-use prefixes reach whatever the translator can, so all of them go.
// No ::ffff:0:0/96 rule: BlockList checks an IPv4-mapped address against the IPv4 rules already, and
// matches every IPv4 address against such a rule (it refused every IPv4 host).
for (const [network, prefix] of [
  ['::', 96], ['64:ff9b::', 96], ['64:ff9b:1::', 48], ['fc00::', 7], ['fe80::', 10], ['fec0::', 10], ['ff00::', 8],
] as const) {
  NOT_PUBLIC.addSubnet(network, prefix, 'ipv6');
}

/** The eight 16-bit groups of an IPv6 address (valid by isIP), a trailing dotted IPv4 included. */
function ipv6Groups(address: string): number[] {
  const text = address.split('%', 1)[0]!;
  const dotted = /(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(text);
  const hex = dotted === null ? text : `${text.slice(0, dotted.index)}${((+dotted[1]! << 8) | +dotted[2]!).toString(16)}:${((+dotted[3]! << 8) | +dotted[4]!).toString(16)}`;
  const [head, tail] = hex.split('::') as [string, string | undefined];
  const parse = (part: string | undefined) => (part ? part.split(':').map((group) => parseInt(group, 16)) : []);
  const first = parse(head);
  const last = parse(tail);
  return [...first, ...new Array<number>(8 - first.length - last.length).fill(0), ...last];
}

const ipv4 = (high: number, low: number) => `${high >> 8}.${high & 0xff}.${low >> 8}.${low & 0xff}`;

/**
 * The IPv4 addresses an IPv6 address carries and that a relay or the host may connect to instead:
 * 6to4 (2002:V4HI:V4LO::/48) and Teredo (2001:0:SERVER:SERVER:...:~CLIENT:~CLIENT).
 */
function embeddedIPv4(address: string): string[] {
  const groups = ipv6Groups(address);
  if (groups[0] === 0x2002) return [ipv4(groups[1]!, groups[2]!)];
  if (groups[0] === 0x2001 && groups[1] === 0) return [ipv4(groups[2]!, groups[3]!), ipv4(~groups[6]! & 0xffff, ~groups[7]! & 0xffff)];
  return [];
}

/** Whether an address (IPv4 or IPv6, as a lookup or a URL gives it) is on the public internet. */
export function isPublicAddress(address: string): boolean {
  if (isIP(address) !== 6) return !NOT_PUBLIC.check(address, 'ipv4');
  return !NOT_PUBLIC.check(address, 'ipv6') && embeddedIPv4(address).every((inner) => !NOT_PUBLIC.check(inner, 'ipv4'));
}

/** A lookup that fails for names resolving to any address that is not public. */
const publicLookup: LookupFunction = (hostname, options, callback) => {
  dnsLookup(hostname, { ...options, all: true }, (err, addresses: LookupAddress[]) => {
    if (err) return callback(err, '', 0);
    const refused = addresses.find((entry) => !isPublicAddress(entry.address));
    if (refused !== undefined || addresses.length === 0) {
      return callback(Object.assign(new Error('the image host is not a public address'), { code: 'EADDRNOTPUBLIC' }), '', 0);
    }
    if ((options as { all?: boolean }).all) return (callback as unknown as (e: null, a: LookupAddress[]) => void)(null, addresses);
    callback(null, addresses[0]!.address, addresses[0]!.family);
  });
};

/** Characters of base64 for `bytes` bytes: what an image adds to the body sent upstream. */
function base64Length(bytes: number): number {
  return Math.ceil(bytes / 3) * 4;
}

/** An image URL as an error quotes it: origin and path, where credentials (user info, a signed query) are not. */
function echoUrl(url: URL | string): string {
  return safeEcho(typeof url === 'string' ? url : url.origin + url.pathname, MAX_ECHOED_URL_CHARS);
}

/** An image URL in a chat body (the object whose `url` is replaced) and its parameter path. */
export interface ImageUrl {
  readonly image: { url: string };
  readonly param: string;
}

/** One request's images being fetched: what they hold, and what they may. */
interface ImageRequest {
  /** Base64 bytes the images hold so far, counted in the gateway's total. */
  held: number;
  /** Base64 bytes the images may add before the body passes MAX_BODY_BYTES. */
  readonly room: number;
  readonly bodyLimit: number;
  /** Aborted when the request's images are given up: one failed, the time ran out, the client left. */
  readonly signal: AbortSignal;
}

export interface ImageLimits {
  /** Largest image, in bytes as fetched (FETCH_IMAGE_MAX_BYTES). */
  readonly maxBytes: number;
  /** Time for a request's images to arrive, fetched in parallel (FETCH_IMAGE_TIMEOUT_MS). */
  readonly timeoutMs: number;
  /** Base64 bytes all requests may hold at once (FETCH_IMAGE_TOTAL_BYTES). */
  readonly totalBytes: number;
}

export class ImageFetcher {
  private readonly agent: Agent;
  /** Base64 bytes of fetched images held by every request in progress. */
  private held = 0;
  constructor(
    private readonly mode: ImageFetchMode,
    private readonly limits: ImageLimits,
  ) {
    const timeout = limits.timeoutMs;
    this.agent = new Agent({ connect: mode === 'public' ? { lookup: publicLookup, timeout } : { timeout } });
  }

  get enabled(): boolean {
    return this.mode !== 'off';
  }

  /**
   * The chat body's http(s) image URLs, where they stand; a 400 past MAX_FETCHED_IMAGES. Found and
   * counted before any fetch, so that no fetch starts for a request that is then refused.
   */
  findUrls(body: Record<string, unknown>): ImageUrl[] {
    const messages = body.messages;
    if (!Array.isArray(messages)) return [];
    const found: ImageUrl[] = [];
    messages.forEach((message: unknown, m) => {
      const content = (message as { content?: unknown } | null)?.content;
      if (!Array.isArray(content)) return;
      content.forEach((part: unknown, p) => {
        const image = (part as { type?: unknown; image_url?: { url?: unknown } } | null)?.image_url;
        if ((part as { type?: unknown }).type !== 'image_url' || typeof image?.url !== 'string' || !/^https?:\/\//i.test(image.url)) return;
        found.push({ image: image as { url: string }, param: `messages[${m}].content[${p}].image_url.url` });
      });
    });
    if (found.length > MAX_FETCHED_IMAGES) {
      throw new GatewayError(400, `At most ${MAX_FETCHED_IMAGES} image URLs are fetched for one request.`, 'too_many_images', 'messages');
    }
    return found;
  }

  /**
   * Replaces each found URL with a `data:` URL of the image's bytes, within `room` bytes of base64
   * (what MAX_BODY_BYTES, `bodyLimit`, leaves of the body). Resolves with the bytes the request
   * now holds, for release() when it ends. Throws a 400 naming an image that cannot be fetched, a
   * 413 past the body limit, a 503 past the gateway's total; then the request holds nothing.
   * `giveUp` stops every fetch: the caller's to abort (with the error to answer) when the client
   * leaves, and aborted here when one image fails or the time runs out.
   */
  async inline(found: readonly ImageUrl[], room: number, bodyLimit: number, giveUp: AbortController): Promise<number> {
    const timer = setTimeout(() => giveUp.abort(new ImagesTimedOut()), this.limits.timeoutMs);
    const images: ImageRequest = { held: 0, room, bodyLimit, signal: giveUp.signal };
    let failure: unknown;
    const urls = await Promise.all(
      found.map(({ image, param }) =>
        this.fetchAsDataUrl(image.url, param, images).catch((err: unknown) => {
          // The first failure is the request's answer; the others' fetches stop with it.
          if (failure === undefined) failure = err;
          giveUp.abort(err);
          return undefined;
        }),
      ),
    );
    clearTimeout(timer);
    if (failure !== undefined) {
      this.release(images.held);
      throw failure;
    }
    found.forEach(({ image }, i) => void (image.url = urls[i]!));
    return images.held;
  }

  /** Gives back what a request held (inline()'s result), once its body is no longer needed. */
  release(bytes: number): void {
    this.held -= bytes;
  }

  private async fetchAsDataUrl(url: string, param: string, images: ImageRequest): Promise<string> {
    let parsed: URL;
    try {
      parsed = new URL(url);
    } catch {
      throw refuse(param, url, 'not a valid URL');
    }
    const why = (text: string) => refuse(param, parsed, text);
    // A literal address is never looked up, so it is checked here.
    const host = parsed.hostname.replace(/^\[|\]$/g, '');
    if (this.mode === 'public' && isIP(host) !== 0 && !isPublicAddress(host)) throw why('the image host is not a public address');
    const { maxBytes, timeoutMs } = this.limits;
    let answered = false;
    try {
      const response = await request(parsed, { dispatcher: this.agent, signal: images.signal, headers: { accept: 'image/*' } });
      answered = true;
      const type = String(response.headers['content-type'] ?? '').split(';', 1)[0]!.trim().toLowerCase();
      if (response.statusCode !== 200 || !type.startsWith('image/')) {
        await response.body.dump({ limit: MAX_DUMPED_BYTES }).catch(() => undefined);
        throw why(response.statusCode !== 200 ? `HTTP ${response.statusCode}` : `it is not an image (${safeEcho(type || 'no content type')})`);
      }
      // A declared length past a bound is refused before a byte of the body is read.
      const declared = Number(response.headers['content-length']);
      if (declared > maxBytes) {
        response.body.destroy();
        throw why(`it is larger than ${maxBytes} bytes`);
      }
      if (base64Length(declared) > images.room - images.held) {
        response.body.destroy();
        throw tooLarge(param, parsed, images.bodyLimit);
      }
      const chunks: Buffer[] = [];
      let size = 0;
      // Leaving the loop early (a throw) ends the body's iterator, which closes the connection.
      for await (const chunk of response.body as AsyncIterable<Buffer>) {
        size += chunk.length;
        if (size > maxBytes) throw why(`it is larger than ${maxBytes} bytes`);
        this.hold(images, base64Length(size) - base64Length(size - chunk.length), param, parsed);
        chunks.push(chunk);
      }
      return `data:${type};base64,${Buffer.concat(chunks, size).toString('base64')}`;
    } catch (err) {
      if (err instanceof GatewayError) throw err;
      const reason: unknown = images.signal.aborted ? images.signal.reason : err;
      if (reason instanceof GatewayError) throw reason;
      if (reason instanceof ImagesTimedOut) throw why(`it did not arrive within ${timeoutMs} ms (FETCH_IMAGE_TIMEOUT_MS)`);
      const code = (err as { code?: string }).code;
      if (code === 'EADDRNOTPUBLIC') throw why('the image host is not a public address');
      throw why(answered ? 'the connection broke off before the whole image arrived' : 'the connection failed');
    }
  }

  /** Counts `bytes` more of base64 for the request, within its body limit and the gateway's total. */
  private hold(images: ImageRequest, bytes: number, param: string, url: URL): void {
    if (images.held + bytes > images.room) throw tooLarge(param, url, images.bodyLimit);
    // Refused at once rather than queued: a request waiting with part of its images held could wait
    // on others that wait on it, and a client's SDK retries a 503 after Retry-After anyway.
    if (this.held + bytes > this.limits.totalBytes) {
      throw new GatewayError(
        503,
        `The gateway holds as many fetched image bytes as it may (FETCH_IMAGE_TOTAL_BYTES, ${this.limits.totalBytes} bytes as base64) ` +
          `while fetching the image at ${param} (${echoUrl(url)}); retry shortly, or send the image as a base64 data: URL.`,
        'images_busy',
        param,
        undefined,
        { 'retry-after': IMAGES_BUSY_RETRY_AFTER_S },
      );
    }
    this.held += bytes;
    images.held += bytes;
  }

  close(): Promise<void> {
    return this.agent.close();
  }
}

/** The abort reason when a request's images did not all arrive within FETCH_IMAGE_TIMEOUT_MS. */
class ImagesTimedOut extends Error {}

function refuse(param: string, url: URL | string, why: string): GatewayError {
  return new GatewayError(400, `The image at ${param} (${echoUrl(url)}) could not be fetched: ${why}.`, 'image_fetch_failed', param);
}

function tooLarge(param: string, url: URL, limit: number): GatewayError {
  return new GatewayError(
    413,
    `The request's body with its fetched images, as base64, exceeds the limit of ${limit} bytes (MAX_BODY_BYTES); ` +
      `the image at ${param} (${echoUrl(url)}) goes past it.`,
    'request_too_large',
    param,
  );
}
