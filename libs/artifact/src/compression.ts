import type { Compression } from '@tidemark/manifest';
import { PassThrough, type Transform } from 'node:stream';
import { constants, createGunzip, createGzip, createZstdCompress, createZstdDecompress } from 'node:zlib';

/**
 * zstd level 3 keeps pace with pg_dump on one core; the frame checksum lets stock `zstd -t` prove a file intact
 * without Tidemark.
 */
export function createCompressor(compression: Compression): Transform {
  switch (compression) {
    case 'zstd':
      return createZstdCompress({
        params: { [constants.ZSTD_c_compressionLevel]: 3, [constants.ZSTD_c_checksumFlag]: 1 },
      });
    case 'gzip':
      return createGzip({ level: 6 });
    case 'none':
      return new PassThrough();
  }
}

export function createDecompressor(compression: Compression): Transform {
  switch (compression) {
    case 'zstd':
      return createZstdDecompress();
    case 'gzip':
      return createGunzip();
    case 'none':
      return new PassThrough();
  }
}
