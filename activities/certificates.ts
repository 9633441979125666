// Certificate management: days to expiry of the TLS endpoints in config (`dataSources.tlsEndpoints`,
// host:port), read from the certificate each one presents.
import { isIP } from 'node:net';
import tls from 'node:tls';
import type { Deps } from './deps';
import { observe, type Observed } from './http';

export interface CertificateExpiry {
  endpoint: string;
  subject: string;
  validTo: string;
  daysLeft: number;
}

function inspect(endpoint: string, timeoutMs = 10_000): Promise<CertificateExpiry> {
  const [host, port] = endpoint.split(':');
  return new Promise((resolve, reject) => {
    // Expired or self-signed certificates must still be read, so no verification here.
    const socket = tls.connect(
      { host, port: Number(port || 443), servername: isIP(host) ? undefined : host, rejectUnauthorized: false },
      () => {
        const cert = socket.getPeerCertificate();
        socket.end();
        if (!cert?.valid_to) return reject(new Error(`${endpoint}: no certificate presented`));
        const validTo = new Date(cert.valid_to);
        resolve({
          endpoint,
          subject: String(cert.subject?.CN ?? ''),
          validTo: validTo.toISOString(),
          daysLeft: Math.floor((validTo.getTime() - Date.now()) / 86_400_000),
        });
      },
    );
    socket.setTimeout(timeoutMs, () => socket.destroy(new Error(`${endpoint}: no TLS handshake in ${timeoutMs} ms`)));
    socket.on('error', reject);
  });
}

export function createCertificateActivities({ config }: Deps) {
  return {
    async certificateExpiry(): Promise<Observed<CertificateExpiry[]>> {
      const endpoints = config.dataSources.tlsEndpoints;
      if (endpoints.length === 0)
        return { available: false, reason: 'no TLS endpoints configured (dataSources.tlsEndpoints)' };
      return observe(() => Promise.all(endpoints.map((e) => inspect(e))), endpoints.join(', '));
    },
  };
}
