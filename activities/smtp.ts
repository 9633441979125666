// Mail for notification targets with an `email` (the security team), through nodemailer to the
// relay in SMTP_URL, `smtp://[user:pass@]host:port` or `smtps://` for TLS from the first byte.
// Over smtp:// the mail goes under STARTTLS whenever the relay offers it; with credentials for a
// relay off this machine STARTTLS is required, so the password never crosses the network in clear.
import type { ConnectionOptions } from 'node:tls';
import { z } from 'zod';
import { cleartextAuthAllowed, redact } from './credentials';

export interface Mail {
  from: string;
  to: string;
  subject: string;
  text: string;
}

export interface SmtpOptions {
  /** TLS options for the relay's connection, e.g. a test's own CA; the system's CAs otherwise */
  tls?: ConnectionOptions;
}

const SmtpUrl = z.url({ protocol: /^smtps?$/, hostname: /./ });

/** What nodemailer's errors carry besides the message: the SMTP command that failed. */
const SmtpFailure = z.object({ message: z.string(), command: z.string().optional(), code: z.string().optional() });

/** Sends one mail; resolves with the relay's answer to the message, throws naming the failing step. */
export async function sendMail(
  smtpUrl: string,
  mail: Mail,
  timeoutMs = 15_000,
  options: SmtpOptions = {},
): Promise<string> {
  if (!SmtpUrl.safeParse(smtpUrl).success) throw new Error('SMTP_URL is not an smtp:// or smtps:// URL');
  const url = new URL(smtpUrl);
  const secure = url.protocol === 'smtps:';
  const user = decodeURIComponent(url.username);
  const pass = decodeURIComponent(url.password);
  const mustEncrypt = Boolean(user || pass) && !secure && !cleartextAuthAllowed(url.hostname);
  // Loaded on first use: most processes that import the activities never send mail.
  const { createTransport } = await import('nodemailer');
  const transport = createTransport({
    host: url.hostname.replace(/^\[(.*)\]$/, '$1'),
    port: Number(url.port || (secure ? 465 : 25)),
    secure,
    requireTLS: mustEncrypt,
    auth: user || pass ? { user, pass } : undefined,
    tls: options.tls,
    connectionTimeout: timeoutMs,
    greetingTimeout: timeoutMs,
    socketTimeout: timeoutMs,
    dnsTimeout: timeoutMs,
    logger: false,
  });
  try {
    const info = await transport.sendMail({
      from: mail.from,
      to: mail.to,
      subject: mail.subject.replace(/[\r\n]+/g, ' '),
      text: mail.text,
      // The whole send, not only each wait on the relay: a relay answering byte by byte stops here too.
      signal: AbortSignal.timeout(timeoutMs),
    });
    return info.response;
  } catch (err) {
    const failure = SmtpFailure.safeParse(err);
    if (failure.data?.code === 'EABORT') throw new Error(`SMTP ${url.host}: not done in ${timeoutMs} ms`);
    let message = failure.data?.message ?? String(err);
    let step = failure.data?.command ?? failure.data?.code ?? 'send';
    // nodemailer files a certificate that does not verify under CONN, also when STARTTLS upgraded.
    if (step === 'CONN' && /certificate|ssl|tls/i.test(message)) step = 'TLS handshake';
    if (mustEncrypt && step === 'STARTTLS')
      message += ' (credentials go only under TLS to a relay off this machine: use smtps:// or a relay with STARTTLS)';
    throw new Error(`SMTP ${url.host}: ${step} → ${redact(message, [pass, url.password])}`);
  } finally {
    transport.close();
  }
}
