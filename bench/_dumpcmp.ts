import { pipeline } from 'node:stream/promises';
import { Writable } from 'node:stream';
import { BatchingStream, createCompressor, HashingStream } from '@tidemark/artifact';
import { createSource } from '@tidemark/source-kinds';
const url = 'postgresql://postgres@127.0.0.1:55432/postgres';
const sink = () => new Writable({ write(_c, _e, cb) { cb(); } });
async function one(mode: 'tool' | 'node') {
  const src = createSource({ kind: "postgres", url, options: { method: "physical" } } as never, {});
  const t = performance.now();
  const h = await src.dump({ backupId: 'x', workDir: '/tmp', ...(mode === 'tool' ? { compression: 'zstd' } : {}) } as never);
  const t1 = performance.now();
  let first = 0; h.stdout.once('data', () => { first = performance.now(); });
  let ended = 0; h.stdout.once('end', () => { ended = performance.now(); });
  const hash = new HashingStream();
  if (mode === 'tool') await Promise.all([pipeline(h.stdout, hash, sink()), h.finished]);
  else await Promise.all([pipeline(h.stdout, new BatchingStream(), createCompressor('zstd'), hash, sink()), h.finished]);
  const c = await h.content;
  console.log('start', ((t1 - t) / 1000).toFixed(2), 'first', ((first - t) / 1000).toFixed(2), 'end', ((ended - t) / 1000).toFixed(2));
  return `${mode} ${((performance.now() - t) / 1000).toFixed(2)} s, ${hash.bytes} bytes, raw ${h.precompressed?.rawBytes() ?? '-'} tl ${c.physical?.timeline} cpu ${JSON.stringify(process.cpuUsage())}`;
}
void (async () => { for (const m of (process.env.MODES ?? "node,tool,node,tool").split(",") as ("node"|"tool")[] as const) console.log(await one(m)); })();
