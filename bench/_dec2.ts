import { createReadStream } from 'node:fs';
import { createZstdDecompress } from 'node:zlib';
void (async () => {
  for (const cs of [256 * 1024, 1024 * 1024, 4 * 1024 * 1024, 256*1024, 1024*1024]) {
    const t2 = performance.now(); const c1 = process.cpuUsage();
    let n = 0; const s = createReadStream('/tmp/pgb/c.tar.zst', { highWaterMark: 1 << 20 }).pipe(createZstdDecompress({ chunkSize: cs }));
    s.on('data', (b: Buffer) => { n += b.length; }); await new Promise((r) => s.on('end', r));
    console.log(cs, ((performance.now() - t2) / 1000).toFixed(2), n, JSON.stringify(process.cpuUsage(c1)));
  }
})();
