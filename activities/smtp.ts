// Mail for notification targets with an `email` (the security team): plain SMTP (RFC 5321) to the
// relay in SMTP_URL, `smtp://[user:pass@]host:port` or `smtps://` for TLS from the first byte.
import net from 'node:net';
import tls from 'node:tls';

export interface Mail {
  from: string;
  to: string;
  subject: string;
  text: string;
}

/** Sends one mail; resolves with the relay's answer to the message, throws with the failing reply. */
export async function sendMail(smtpUrl: string, mail: Mail, timeoutMs = 15_000): Promise<string> {
  const url = new URL(smtpUrl);
  const secure = url.protocol === 'smtps:';
  const port = Number(url.port || (secure ? 465 : 25));
  const socket = secure
    ? tls.connect({ host: url.hostname, port, servername: url.hostname })
    : net.connect({ host: url.hostname, port });
  socket.setTimeout(timeoutMs, () => socket.destroy(new Error(`SMTP ${url.host}: no answer in ${timeoutMs} ms`)));
  let buffer = '';
  const waiters: ((reply: string) => void)[] = [];
  const failures: ((err: Error) => void)[] = [];
  socket.on('data', (chunk: Buffer) => {
    buffer += chunk.toString('utf8');
    // A reply ends with a line whose code is followed by a space (not "250-", a continuation).
    const lines = buffer.split('\r\n');
    for (let i = 0; i < lines.length - 1; i++) {
      if (/^\d{3} /.test(lines[i])) {
        const reply = lines.slice(0, i + 1).join('\n');
        buffer = lines.slice(i + 1).join('\r\n');
        waiters.shift()?.(reply);
        return;
      }
    }
  });
  socket.on('error', (err) => failures.forEach((f) => f(err)));
  const reply = () =>
    new Promise<string>((resolve, reject) => {
      waiters.push(resolve);
      failures.push(reject);
    });
  const expect = async (command: string | null, code: string) => {
    if (command !== null) socket.write(`${command}\r\n`);
    const answer = await reply();
    if (!answer.startsWith(code))
      throw new Error(`SMTP ${url.host}: ${command?.split(' ')[0] ?? 'greeting'} → ${answer}`);
    return answer;
  };
  try {
    await expect(null, '220');
    await expect(`EHLO ${process.env.HOSTNAME || 'runbooks'}`, '250');
    if (url.username) {
      const token = Buffer.from(`\0${decodeURIComponent(url.username)}\0${decodeURIComponent(url.password)}`).toString(
        'base64',
      );
      await expect(`AUTH PLAIN ${token}`, '235');
    }
    await expect(`MAIL FROM:<${mail.from}>`, '250');
    await expect(`RCPT TO:<${mail.to}>`, '250');
    await expect('DATA', '354');
    const body = mail.text.replace(/\r?\n/g, '\r\n').replace(/^\./gm, '..');
    const message = [
      `From: ${mail.from}`,
      `To: ${mail.to}`,
      `Subject: ${mail.subject.replace(/[\r\n]+/g, ' ')}`,
      `Date: ${new Date().toUTCString()}`,
      'MIME-Version: 1.0',
      'Content-Type: text/plain; charset=utf-8',
      '',
      body,
      '.',
    ].join('\r\n');
    const accepted = await expect(message, '250');
    await expect('QUIT', '221').catch(() => undefined);
    return accepted;
  } finally {
    socket.destroy();
  }
}
