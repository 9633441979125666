// Passwords in connection URLs (SMTP_URL, REDIS_URL): where they may travel without TLS, and
// keeping them out of error messages, which end up in incident records and the Web UI.
import net from 'node:net';

const loopback = new net.BlockList();
loopback.addSubnet('127.0.0.0', 8, 'ipv4');
loopback.addAddress('::1', 'ipv6');

/**
 * True for `localhost`, 127.0.0.0/8 and ::1 (also IPv4-mapped, or in a URL's brackets): a password
 * sent there in clear never leaves this machine. Any other name could resolve anywhere.
 */
export function cleartextAuthAllowed(host: string): boolean {
  const h = host.toLowerCase().replace(/^\[(.*)\]$/, '$1');
  if (h === 'localhost') return true;
  const family = net.isIP(h);
  return family !== 0 && loopback.check(h, family === 4 ? 'ipv4' : 'ipv6');
}

/** The text with each non-empty secret replaced. */
export function redact(text: string, secrets: (string | undefined)[]): string {
  return secrets.reduce<string>((t, s) => (s ? t.replaceAll(s, '[redacted]') : t), text);
}
