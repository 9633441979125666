// A local mail relay speaking SMTP (RFC 5321) as far as a client sending one message needs:
// greeting, EHLO, AUTH PLAIN, MAIL, RCPT, DATA, QUIT. It keeps what it was given.
import net from 'node:net';
import type { AddressInfo } from 'node:net';

export interface ReceivedMail {
  from: string;
  to: string[];
  data: string;
  auth?: string;
}

export class SmtpStandIn {
  readonly mails: ReceivedMail[] = [];
  private server?: net.Server;
  url = '';

  async listen(): Promise<this> {
    this.server = net.createServer((socket) => {
      let mail: ReceivedMail = { from: '', to: [], data: '' };
      let inData = false;
      let buffer = '';
      const say = (line: string) => socket.write(`${line}\r\n`);
      say('220 standin ESMTP ready');
      socket.on('data', (chunk: Buffer) => {
        buffer += chunk.toString('utf8');
        for (;;) {
          if (inData) {
            const end = buffer.indexOf('\r\n.\r\n');
            if (end < 0) return;
            mail.data = buffer.slice(0, end).replace(/^\.\./gm, '.');
            buffer = buffer.slice(end + 5);
            inData = false;
            this.mails.push(mail);
            mail = { from: '', to: [], data: '' };
            say(`250 2.0.0 queued as ${this.mails.length}`);
            continue;
          }
          const eol = buffer.indexOf('\r\n');
          if (eol < 0) return;
          const line = buffer.slice(0, eol);
          buffer = buffer.slice(eol + 2);
          const verb = line.split(' ')[0].toUpperCase();
          if (verb === 'EHLO') socket.write('250-standin\r\n250-AUTH PLAIN\r\n250 8BITMIME\r\n');
          else if (verb === 'AUTH') {
            mail.auth = Buffer.from(line.split(' ')[2] ?? '', 'base64')
              .toString('utf8')
              .split('\0')
              .slice(1)
              .join(':');
            say('235 2.7.0 authenticated');
          } else if (verb === 'MAIL') {
            mail.from = /<([^>]*)>/.exec(line)?.[1] ?? '';
            say('250 2.1.0 ok');
          } else if (verb === 'RCPT') {
            mail.to.push(/<([^>]*)>/.exec(line)?.[1] ?? '');
            say('250 2.1.5 ok');
          } else if (verb === 'DATA') {
            inData = true;
            say('354 end data with <CR><LF>.<CR><LF>');
          } else if (verb === 'QUIT') {
            say('221 2.0.0 bye');
            socket.end();
          } else say('502 5.5.2 not implemented');
        }
      });
    });
    await new Promise<void>((r) => this.server!.listen(0, '127.0.0.1', r));
    this.url = `smtp://runbooks:secret@127.0.0.1:${(this.server!.address() as AddressInfo).port}`;
    return this;
  }

  async close(): Promise<void> {
    await new Promise((r) => this.server?.close(r));
  }
}
