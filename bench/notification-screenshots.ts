/**
 * How a Teams card and a Slack message look: renders the payloads the channels post for a failed backup (as a
 * receiver captures them) to local HTML with a small renderer of the Adaptive Card and Block Kit subset they use,
 * and screenshots them with Chromium. Run by hand (not a test):
 *   node -r ./tools/register.js bench/notification-screenshots.ts [--out docs/notifications]
 * Needs /usr/bin/chromium (apt-get install chromium).
 */
import { mkdir } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join, resolve } from 'node:path';
import { chromium } from 'playwright-core';
import { createChannel, type Notification } from '@tidemark/notification-channels';
import { SAMPLE_FAILURE } from './notification-sample';

const outFlag = process.argv.indexOf('--out');
const OUT = resolve(outFlag > 0 ? (process.argv[outFlag + 1] ?? '') : 'docs/notifications');

/** Posts `notification` through a real channel to a local receiver and returns the JSON body it captured. */
async function capture(type: 'teams' | 'slack', notification: Notification): Promise<unknown> {
  let body = '';
  const server: Server = createServer((request, response) => {
    request.on('data', (chunk: Buffer) => (body += chunk.toString('utf8')));
    request.on('end', () => response.end('1'));
  });
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
  const { port } = server.address() as AddressInfo;
  const result = await createChannel('capture', { type, url: `http://127.0.0.1:${port}/hook` }).send(
    notification,
  );
  await new Promise((done) => server.close(done));
  if (!result.ok) throw new Error(`capture failed: ${result.detail}`);
  return JSON.parse(body) as unknown;
}

function esc(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

// --- Adaptive Card 1.5 subset: TextBlock (size, weight, color, isSubtle, fontType), FactSet, Action.OpenUrl.
type Block = Record<string, unknown>;
const AC_COLOURS: Record<string, string> = {
  Default: '#242424',
  Attention: '#c4314b',
  Warning: '#835c00',
  Good: '#0e700e',
  Accent: '#5b5fc7',
};
const AC_SIZES: Record<string, string> = { Small: '12px', Default: '14px', Medium: '16px', Large: '20px' };

function word(value: unknown): string {
  return typeof value === 'string' ? value : 'Default';
}

function adaptiveBlock(block: Block): string {
  if (block['type'] === 'FactSet') {
    const facts = block['facts'] as { title: string; value: string }[];
    const rows = facts
      .map((f) => `<tr><td class="ft">${esc(f.title)}</td><td>${esc(f.value)}</td></tr>`)
      .join('');
    return `<table class="factset">${rows}</table>`;
  }
  const style = [
    `font-size:${AC_SIZES[word(block['size'])] ?? '14px'}`,
    `color:${block['isSubtle'] === true ? '#616161' : (AC_COLOURS[word(block['color'])] ?? '#242424')}`,
    block['weight'] === 'Bolder' ? 'font-weight:600' : '',
    block['fontType'] === 'Monospace' ? "font-family:Consolas,'DejaVu Sans Mono',monospace" : '',
    block['spacing'] === 'Small' ? 'margin-top:2px' : block['spacing'] === 'Medium' ? 'margin-top:14px' : '',
  ].join(';');
  return `<div class="tb" style="${style}">${esc(String(block['text']))}</div>`;
}

function teamsHtml(payload: unknown): string {
  const card = (payload as { attachments: { content: { body: Block[]; actions: Block[] } }[] })
    .attachments[0]!.content;
  const actions = card.actions.map((a) => `<span class="btn">${esc(String(a['title']))}</span>`).join('');
  return `<!doctype html><html><head><style>
  body{margin:0;background:#f5f5f5;font-family:"Segoe UI","DejaVu Sans",sans-serif;padding:24px;width:720px}
  .msg{display:flex;gap:12px}.avatar{width:32px;height:32px;border-radius:50%;background:#5b5fc7;color:#fff;
  display:flex;align-items:center;justify-content:center;font-weight:600;font-size:13px}
  .meta{font-size:12px;color:#616161;margin-bottom:4px}.meta b{color:#242424}
  .card{background:#fff;border-radius:6px;box-shadow:0 1px 2px rgba(0,0,0,.14);padding:16px;width:640px}
  .tb{margin-top:8px;line-height:1.4;white-space:pre-wrap}.tb:first-child{margin-top:0}
  .factset{margin-top:10px;border-collapse:collapse;font-size:14px;color:#242424}
  .factset td{padding:3px 16px 3px 0;vertical-align:top}.ft{font-weight:600;white-space:nowrap}
  .actions{margin-top:14px;display:flex;gap:8px}.btn{border:1px solid #d1d1d1;border-radius:4px;padding:5px 14px;
  font-size:14px;font-weight:600;color:#242424;background:#fff}
  </style></head><body><div class="msg"><div class="avatar">TW</div><div><div class="meta"><b>Tidemark via Workflows</b>
  &nbsp;02:04</div><div class="card">${card.body.map(adaptiveBlock).join('')}<div class="actions">${actions}</div>
  </div></div></div></body></html>`;
}

// --- Block Kit subset: header, section (text, fields), actions (buttons), context; mrkdwn *bold*, ```code```.
function mrkdwn(text: string): string {
  // The payload's text is already &-escaped for Slack; only the markup is turned into HTML here.
  return text
    .replace(/```([\s\S]*?)```/g, (_m, code: string) => `<pre class="code">${code}</pre>`)
    .replace(/`([^`]+)`/g, '<code>$1</code>')
    .replace(/\*([^*\n]+)\*/g, '<b>$1</b>')
    .replace(/\n/g, '<br>');
}

function slackBlock(block: Block): string {
  const text = block['text'] as { text: string } | undefined;
  switch (block['type']) {
    case 'header':
      return `<div class="header">${esc(text?.text ?? '')}</div>`;
    case 'section': {
      const fields = block['fields'] as { text: string }[] | undefined;
      if (fields)
        return `<div class="fields">${fields.map((f) => `<div>${mrkdwn(f.text)}</div>`).join('')}</div>`;
      return `<div class="section">${mrkdwn(text?.text ?? '')}</div>`;
    }
    case 'actions': {
      const buttons = block['elements'] as { text: { text: string } }[];
      return `<div class="buttons">${buttons.map((b) => `<span class="btn">${esc(b.text.text)}</span>`).join('')}</div>`;
    }
    case 'context': {
      const elements = block['elements'] as { text: string }[];
      return `<div class="context">${elements.map((e) => mrkdwn(e.text)).join(' ')}</div>`;
    }
    default:
      return '';
  }
}

function slackHtml(payload: unknown): string {
  const { blocks } = payload as { blocks: Block[] };
  return `<!doctype html><html><head><style>
  body{margin:0;background:#fff;font-family:Lato,"DejaVu Sans",sans-serif;padding:20px 24px;width:720px;color:#1d1c1d}
  .msg{display:flex;gap:8px}.avatar{width:36px;height:36px;border-radius:6px;background:#1264a3;color:#fff;
  display:flex;align-items:center;justify-content:center;font-weight:700}
  .name{font-weight:900;font-size:15px}.app{font-size:10px;background:#e8e8e8;color:#616061;padding:1px 3px;border-radius:2px;margin:0 6px;font-weight:700}
  .time{font-size:12px;color:#616061}.header{font-size:18px;font-weight:900;margin:6px 0 4px}
  .section{font-size:15px;line-height:1.47;margin:6px 0}.fields{display:grid;grid-template-columns:1fr 1fr;gap:8px 16px;
  font-size:15px;line-height:1.4;margin:10px 0}.code{font-family:Monaco,"DejaVu Sans Mono",monospace;font-size:12px;
  background:#f8f8f8;border:1px solid #e2e2e2;border-radius:4px;padding:8px;margin:4px 0;white-space:pre-wrap}
  .buttons{display:flex;gap:8px;margin:10px 0}.btn{border:1px solid #bbbabb;border-radius:4px;padding:4px 12px;
  font-size:14px;font-weight:700}.context{font-size:12px;color:#616061;margin-top:6px}
  </style></head><body><div class="msg"><div class="avatar">T</div><div style="flex:1">
  <div><span class="name">Tidemark</span><span class="app">APP</span><span class="time">2:04 AM</span></div>
  ${blocks.map(slackBlock).join('')}</div></div></body></html>`;
}

async function main(): Promise<void> {
  await mkdir(OUT, { recursive: true });
  const pages = {
    teams: teamsHtml(await capture('teams', SAMPLE_FAILURE)),
    slack: slackHtml(await capture('slack', SAMPLE_FAILURE)),
  };
  const browser = await chromium.launch({
    executablePath: '/usr/bin/chromium',
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
  try {
    const page = await browser.newPage({ viewport: { width: 768, height: 400 }, deviceScaleFactor: 1 });
    for (const [name, html] of Object.entries(pages)) {
      await page.setContent(html);
      await page.screenshot({ path: join(OUT, `${name}.png`), fullPage: true });
      console.log(`${name}: ${join(OUT, `${name}.png`)}`);
    }
  } finally {
    await browser.close();
  }
}

void main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
