// A local mail relay (the `smtp-server` package) that keeps what it was given. It accepts AUTH in
// clear so a test sees a client that sends it; with a certificate it offers STARTTLS (or speaks
// TLS from the first byte), else no TLS at all.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { SMTPServer } from 'smtp-server';

export interface ReceivedMail {
  from: string;
  to: string[];
  data: string;
  /** `user:pass` the client authenticated with */
  auth?: string;
  /** whether the session was under TLS when the mail came */
  tls: boolean;
}

export interface StandInOptions {
  /** where to listen: 127.0.0.1 unless a test needs a relay off loopback */
  host?: string;
  /** offer STARTTLS with this certificate */
  certificate?: Certificate;
  /** with the certificate: TLS from the first byte (smtps://) instead of STARTTLS */
  implicitTls?: boolean;
}

export class SmtpStandIn {
  readonly mails: ReceivedMail[] = [];
  /** every AUTH the relay was sent, before or after TLS */
  readonly logins: { auth: string; tls: boolean }[] = [];
  private server?: SMTPServer;
  url = '';

  constructor(private readonly options: StandInOptions = {}) {}

  async listen(): Promise<this> {
    const host = this.options.host ?? '127.0.0.1';
    const cert = this.options.certificate;
    this.server = new SMTPServer({
      name: 'standin',
      logger: false,
      allowInsecureAuth: true,
      authMethods: ['PLAIN', 'LOGIN'],
      secure: Boolean(cert && this.options.implicitTls),
      ...(cert ? { key: cert.key, cert: cert.cert } : { disabledCommands: ['STARTTLS'] }),
      onAuth: (auth, session, callback) => {
        this.logins.push({ auth: `${auth.username}:${auth.password}`, tls: session.secure });
        callback(null, { user: auth.username });
      },
      onData: (stream, session, callback) => {
        const chunks: Buffer[] = [];
        stream.on('data', (c: Buffer) => chunks.push(c));
        stream.on('end', () => {
          this.mails.push({
            from: session.envelope.mailFrom ? session.envelope.mailFrom.address : '',
            to: session.envelope.rcptTo.map((r) => r.address),
            data: Buffer.concat(chunks).toString('utf8'),
            auth: this.logins.at(-1)?.auth,
            tls: session.secure,
          });
          callback(null, `2.0.0 queued as ${this.mails.length}`);
        });
      },
    });
    await new Promise<void>((r) => this.server!.listen(0, host, r));
    const port = (this.server.server.address() as AddressInfo).port;
    const scheme = this.options.implicitTls ? 'smtps' : 'smtp';
    this.url = `${scheme}://runbooks:secret@${host.includes(':') ? `[${host}]` : host}:${port}`;
    return this;
  }

  async close(): Promise<void> {
    await new Promise<void>((r) => (this.server ? this.server.close(() => r()) : r()));
  }
}

export interface Certificate {
  key: string;
  cert: string;
}

/** A self-signed certificate for 127.0.0.1 and localhost, valid a day (an EC key: made in milliseconds). */
export function selfSignedCertificate(): Certificate {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'runbooks-smtp-cert-'));
  try {
    const [key, cert] = [path.join(dir, 'key.pem'), path.join(dir, 'cert.pem')];
    execFileSync(
      'openssl',
      ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '1'].concat(
        ['-subj', '/CN=localhost', '-addext', 'subjectAltName=IP:127.0.0.1,DNS:localhost'],
        ['-keyout', key, '-out', cert],
      ),
      { stdio: 'ignore' },
    );
    return { key: readFileSync(key, 'utf8'), cert: readFileSync(cert, 'utf8') };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** This machine's first non-loopback IPv4 address, for a relay a client must treat as remote. */
export function nonLoopbackAddress(): string | undefined {
  return Object.values(os.networkInterfaces())
    .flat()
    .find((a) => a && a.family === 'IPv4' && !a.internal)?.address;
}
