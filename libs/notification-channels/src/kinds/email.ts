import { createTransport } from 'nodemailer';
import { z } from 'zod';
import type { Channel, ChannelKind, Notification, ResolvedDeps } from '../contract';
import { deliver, secretsOf, shortAnswer, type AttemptOutcome } from '../delivery';
import { contextLine, displayTitle, plainText } from '../render';
import { smtpUrl } from '../resolved-values';

const HEADLINE_COLOUR = {
  critical: '#c4314b',
  error: '#c4314b',
  warning: '#c19c00',
  info: '#2f6fbd',
} as const;
const RESOLVED_COLOUR = '#237b4b';

function html(text: string): string {
  return text
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;')
    .replace(/'/g, '&#39;');
}

export function emailSubject(notification: Notification): string {
  return notification.kind === 'resolve' ? `[RESOLVED] ${notification.title}` : displayTitle(notification);
}

/** The HTML part: headline, summary, facts as a table, commands in monospace, links. Inline styles only. */
export function emailHtml(notification: Notification): string {
  const colour = notification.kind === 'resolve' ? RESOLVED_COLOUR : HEADLINE_COLOUR[notification.severity];
  const facts = notification.facts
    .map(
      (fact) =>
        `<tr><th align="left" style="padding:2px 12px 2px 0">${html(fact.label)}</th><td>${html(fact.value)}</td></tr>`,
    )
    .join('');
  const commands = notification.commands.length
    ? `<p><b>Look further</b></p><pre style="background:#f3f3f3;padding:8px">${notification.commands.map(html).join('\n')}</pre>`
    : '';
  const links = notification.links
    .map((link) => `<a href="${html(link.url)}">${html(link.label)}</a>`)
    .join(' · ');
  return [
    '<!doctype html><html><body style="font-family:sans-serif">',
    `<h2 style="color:${colour}">${html(displayTitle(notification))}</h2>`,
    `<p>${html(notification.summary)}</p>`,
    facts ? `<table>${facts}</table>` : '',
    commands,
    links ? `<p>${links}</p>` : '',
    `<p style="color:#777;font-size:small">${html(contextLine(notification))}</p>`,
    '</body></html>',
  ].join('');
}

const resolved = z.object({
  smtp: smtpUrl,
  from: z.string(),
  to: z.array(z.string()).min(1),
});

// SMTP reply codes: 4xx is "try again later", 5xx is "this will not work".
function smtpOutcome(error: unknown): AttemptOutcome {
  const { responseCode, response, code, message } = error as {
    responseCode?: number;
    response?: string;
    code?: string;
    message?: string;
  };
  if (typeof responseCode === 'number') {
    return {
      ok: false,
      status: responseCode,
      retry: responseCode >= 400 && responseCode < 500,
      detail: `SMTP ${shortAnswer(response ?? String(responseCode))}`,
    };
  }
  // Wrong credentials will not get better; a refused or dropped connection may.
  const retry = code !== 'EAUTH' && code !== 'EENVELOPE';
  return { ok: false, retry, detail: `SMTP ${code ?? 'error'}: ${shortAnswer(message ?? '')}` };
}

function emailChannel(name: string, config: z.infer<typeof resolved>, deps: ResolvedDeps): Channel {
  const timeout = deps.delivery.timeoutMs;
  const masked = secretsOf([config.smtp]);
  const attempt = async (notification: Notification): Promise<AttemptOutcome> => {
    const transport = createTransport({
      url: config.smtp,
      connectionTimeout: timeout,
      greetingTimeout: timeout,
      socketTimeout: timeout,
    });
    try {
      const info = await transport.sendMail({
        from: config.from,
        to: config.to,
        subject: emailSubject(notification),
        text: plainText(notification),
        html: emailHtml(notification),
        headers: { 'X-Tidemark-Notification-Id': notification.id },
      });
      const code = /^\d{3}/.exec(info.response)?.[0];
      return {
        ok: true,
        ...(code === undefined ? {} : { status: Number(code) }),
        detail: `SMTP ${shortAnswer(info.response)}`,
      };
    } catch (error) {
      return smtpOutcome(error);
    } finally {
      transport.close();
    }
  };
  return {
    name,
    kind: 'email',
    send: (notification, opts = {}) => deliver(() => attempt(notification), deps, masked, opts.signal),
  };
}

export const emailKind: ChannelKind = {
  name: 'email',
  settings: z.object({
    smtp: z.string().min(1),
    from: z.email({ error: 'must be an e-mail address' }),
    to: z.array(z.email({ error: 'must be an e-mail address' })).min(1),
  }),
  secrets: ['smtp'],
  resolved,
  create(name, config, deps) {
    return emailChannel(name, resolved.parse(config), deps);
  },
};
