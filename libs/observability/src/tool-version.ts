import { readFileSync } from 'node:fs';
import { join } from 'node:path';

/** Tidemark's own version (package.json), recorded in manifests and blob metadata and exported as build info. */
export const TOOL_VERSION: string = (
  JSON.parse(readFileSync(join(__dirname, '..', '..', '..', 'package.json'), 'utf8')) as { version: string }
).version;
