import http from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * An HTTP server listening on `host`:`port` (0 picks a free port), with the
 * base URL it is reached at (an IPv6 host in brackets). Requests go nowhere
 * until a handler is attached.
 */
export async function listen(
  host: string,
  port: number,
): Promise<{ server: http.Server; url: string }> {
  const server = http.createServer();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const { port: bound } = server.address() as AddressInfo;
  return { server, url: `http://${host.includes(':') ? `[${host}]` : host}:${bound}` };
}

/** Stops listening and ends every connection, keep-alive and held ones too. */
export async function closeServer(server: http.Server): Promise<void> {
  const closed = new Promise<void>((resolve) => server.close(() => resolve()));
  server.closeAllConnections();
  await closed;
}

/** Throws when an option is given but is not a number >= min (an integer unless told otherwise). */
export function checkNumberOption(
  name: string,
  value: number | undefined,
  min: number,
  { integer = true }: { integer?: boolean } = {},
): void {
  if (value === undefined) return;
  if (typeof value !== 'number' || !(value >= min) || (integer && !Number.isInteger(value))) {
    throw new Error(`${name} must be ${integer ? 'an integer' : 'a number'} >= ${min}.`);
  }
}
