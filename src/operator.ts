// Who may use the gateway's operator routes (today GET /debug/requests, the record of the last
// requests). The gateway has no admin keys yet: such a route serves clients on this machine unless
// the operator opens it to any client. An admin key is one more way through this one check.
import type { IncomingHttpHeaders } from 'node:http';
import { BlockList } from 'node:net';
import { GatewayError } from './errors.js';

export type OperatorReaders = 'loopback' | 'any';

const LOOPBACK = new BlockList();
LOOPBACK.addSubnet('127.0.0.0', 8, 'ipv4');
LOOPBACK.addAddress('::1', 'ipv6');

/**
 * Headers a proxy adds when it relays a request: a proxy on this machine makes every client look
 * like loopback, so a relayed request is not taken for one from this machine.
 */
const RELAY_HEADERS = ['forwarded', 'x-forwarded-for', 'x-real-ip'] as const;

/** Whether an address is this machine's: 127.0.0.0/8 or ::1, also as IPv4-mapped IPv6 (::ffff:127.0.0.1). */
export function isLoopback(address: string | undefined): boolean {
  if (address === undefined) return false;
  return address.includes(':') ? LOOPBACK.check(address, 'ipv6') : LOOPBACK.check(address, 'ipv4');
}

/**
 * Why a client may not use an operator route (a 403), or undefined when it may. `route` names the
 * route and `setting` the setting that opens it, for the message.
 */
export function operatorRefusal(
  remoteAddress: string | undefined,
  headers: IncomingHttpHeaders,
  readers: OperatorReaders,
  route: string,
  setting: string,
): GatewayError | undefined {
  if (readers === 'any') return undefined;
  const relayed = RELAY_HEADERS.some((name) => headers[name] !== undefined);
  if (isLoopback(remoteAddress) && !relayed) return undefined;
  return new GatewayError(
    403,
    `${route} is served only to clients on the gateway's own machine${relayed ? ', not through a proxy' : ''}; ` +
      `set ${setting}=any to serve it to every client that can reach the port.`,
    'operator_only',
  );
}

/**
 * The gateway's own routes, not traffic: health, metrics, status, the record, the admin API and the
 * dashboard. The record of the last requests and the dashboard keep client traffic only: probes
 * and polls would crowd it out, and an answer guarded by the admin key must not be copied where a
 * reader needs none.
 */
export function isOperatorPath(path: string): boolean {
  return (
    path === '/health' ||
    path === '/metrics' ||
    path === '/ui' ||
    path.startsWith('/ui/') ||
    path.startsWith('/admin/') ||
    path.startsWith('/status/') ||
    path.startsWith('/debug/')
  );
}
