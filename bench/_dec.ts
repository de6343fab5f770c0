import { createReadStream } from 'node:fs';
import { Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createDecompressor } from '@tidemark/artifact';
const sink = () => new Writable({ write(_c, _e, cb) { cb(); } });
void (async () => {
  for (let i = 0; i < 2; i++) {
    const t = performance.now(); const c0 = process.cpuUsage();
    await pipeline(createReadStream('/tmp/pgb/c.tar.zst'), createDecompressor('zstd'), sink());
    console.log('dec', ((performance.now() - t) / 1000).toFixed(2), JSON.stringify(process.cpuUsage(c0)));
    const t2 = performance.now(); const c1 = process.cpuUsage();
    let n = 0; const s = createReadStream('/tmp/pgb/c.tar.zst').pipe(createDecompressor('zstd'));
    s.on('data', (b: Buffer) => { n += b.length; }); await new Promise((r) => s.on('end', r));
    console.log('dec-data', ((performance.now() - t2) / 1000).toFixed(2), n, JSON.stringify(process.cpuUsage(c1)));
  }
})();
