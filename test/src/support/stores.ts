import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { lstat, readdir, readlink } from 'node:fs/promises';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import type { ContainerClient } from '@azure/storage-blob';
import { createConnection, type Connection } from 'mysql2/promise';

/** Helpers that read real stores (MariaDB, directories, containers) the way a person checking a restore would. */

export const MARIADB = { host: '127.0.0.1', port: 3306, user: 'root' };

export function mysqlUrl(database: string): string {
  return `mysql://root@127.0.0.1:3306/${database}`;
}

export async function withMysql<T>(
  database: string | undefined,
  use: (c: Connection) => Promise<T>,
): Promise<T> {
  const connection = await createConnection({
    ...MARIADB,
    ...(database ? { database } : {}),
    multipleStatements: true,
  });
  try {
    return await use(connection);
  } finally {
    await connection.end();
  }
}

/** Per table: exact row count and CHECKSUM TABLE, so two databases compare content, not just size. */
export async function mysqlTables(
  database: string,
): Promise<Record<string, { rows: number; checksum: string }>> {
  return withMysql(database, async (c) => {
    const [tables] = await c.query(
      "SELECT table_name AS name FROM information_schema.tables WHERE table_schema = DATABASE() AND table_type = 'BASE TABLE' ORDER BY 1",
    );
    const result: Record<string, { rows: number; checksum: string }> = {};
    for (const { name } of tables as { name: string }[]) {
      const [count] = await c.query(`SELECT COUNT(*) AS n FROM \`${name}\``);
      const [sum] = await c.query(`CHECKSUM TABLE \`${name}\``);
      result[name] = {
        rows: Number((count as { n: number }[])[0]?.n),
        checksum: String((sum as { Checksum: unknown }[])[0]?.Checksum),
      };
    }
    return result;
  });
}

export type Tree = Record<string, string>;

/** Every entry under `root`: files by sha256, symlinks by target, directories as `dir`. */
export async function treeOf(root: string, prefix = ''): Promise<Tree> {
  const tree: Tree = {};
  const entries = await readdir(join(root, prefix), { withFileTypes: true });
  for (const entry of entries.sort((a, b) => a.name.localeCompare(b.name))) {
    const rel = prefix ? `${prefix}/${entry.name}` : entry.name;
    const path = join(root, rel);
    const info = await lstat(path);
    if (info.isSymbolicLink()) tree[rel] = `-> ${await readlink(path)}`;
    else if (info.isDirectory()) {
      tree[rel] = 'dir';
      Object.assign(tree, await treeOf(root, rel));
    } else if (info.isFile()) {
      const hash = createHash('sha256');
      await pipeline(createReadStream(path), hash);
      tree[rel] = hash.digest('hex');
    }
  }
  return tree;
}

/** Blob name → md5 of its bytes and content type. */
export async function containerState(container: ContainerClient): Promise<Record<string, string>> {
  const state: Record<string, string> = {};
  for await (const blob of container.listBlobsFlat()) {
    const body = await container.getBlobClient(blob.name).downloadToBuffer();
    state[blob.name] = `${createHash('md5').update(body).digest('hex')} ${blob.properties.contentType ?? ''}`;
  }
  return state;
}
