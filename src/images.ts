// Image URLs fetched by the gateway, for providers that take only image bytes (Bedrock), and only
// when the operator turns it on (FETCH_IMAGE_URLS). A fetched URL comes from the client, so the
// fetch is bounded in size and time, follows no redirect, and by default refuses every address that
// is not public: the check runs in the DNS lookup the connection itself uses, so a name cannot
// resolve to a public address for the check and a private one for the connection.
import { lookup as dnsLookup, type LookupAddress } from 'node:dns';
import { BlockList, isIP, type LookupFunction } from 'node:net';
import { Agent, request } from 'undici';
import { GatewayError } from './errors.js';

export type ImageFetchMode = 'off' | 'public' | 'any';

/** Image URLs fetched for one request (Bedrock's Converse takes at most 20 images). */
export const MAX_FETCHED_IMAGES = 20;

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

export class ImageFetcher {
  private readonly agent: Agent;
  constructor(
    private readonly mode: ImageFetchMode,
    private readonly maxBytes: number,
    private readonly timeoutMs: number,
  ) {
    this.agent = new Agent({ connect: mode === 'public' ? { lookup: publicLookup, timeout: timeoutMs } : { timeout: timeoutMs } });
  }

  get enabled(): boolean {
    return this.mode !== 'off';
  }

  /**
   * Replaces each http(s) `image_url` in the chat body's messages with a `data:` URL of the image's
   * bytes. Throws a 400 naming the part when an image cannot be fetched.
   */
  async inline(body: Record<string, unknown>): Promise<void> {
    const messages = body.messages;
    if (!Array.isArray(messages)) return;
    // Found first and counted, so that no fetch starts for a request that is then refused.
    const found: { image: { url: string }; param: string }[] = [];
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
    await Promise.all(found.map(async ({ image, param }) => void (image.url = await this.fetchAsDataUrl(image.url, param))));
  }

  private async fetchAsDataUrl(url: string, param: string): Promise<string> {
    const refuse = (why: string) => new GatewayError(400, `The image at ${param} could not be fetched: ${why}.`, 'image_fetch_failed', param);
    let parsed: URL;
    try {
      parsed = new URL(url);
    } catch {
      throw refuse('not a valid URL');
    }
    // A literal address is never looked up, so it is checked here.
    const host = parsed.hostname.replace(/^\[|\]$/g, '');
    if (this.mode === 'public' && isIP(host) !== 0 && !isPublicAddress(host)) throw refuse('the image host is not a public address');
    let response;
    try {
      response = await request(parsed, { dispatcher: this.agent, signal: AbortSignal.timeout(this.timeoutMs), headers: { accept: 'image/*' } });
    } catch (err) {
      const code = (err as { code?: string }).code;
      throw refuse(code === 'EADDRNOTPUBLIC' ? 'the image host is not a public address' : code === 'UND_ERR_ABORTED' || (err as Error).name === 'TimeoutError' ? `no answer within ${this.timeoutMs} ms` : 'the connection failed');
    }
    const type = String(response.headers['content-type'] ?? '').split(';', 1)[0]!.trim().toLowerCase();
    if (response.statusCode !== 200 || !type.startsWith('image/')) {
      await response.body.dump({ limit: 64 * 1024 }).catch(() => undefined);
      throw refuse(response.statusCode !== 200 ? `HTTP ${response.statusCode}` : `it is not an image (${type || 'no content type'})`);
    }
    const chunks: Buffer[] = [];
    let size = 0;
    // Leaving the loop early ends the body's iterator, which closes the connection.
    for await (const chunk of response.body as AsyncIterable<Buffer>) {
      size += chunk.length;
      if (size > this.maxBytes) break;
      chunks.push(chunk);
    }
    if (size > this.maxBytes) throw refuse(`it is larger than ${this.maxBytes} bytes`);
    return `data:${type};base64,${Buffer.concat(chunks).toString('base64')}`;
  }

  close(): Promise<void> {
    return this.agent.close();
  }
}
