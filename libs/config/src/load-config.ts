import { readFileSync } from 'node:fs';
import { dirname, normalize, resolve } from 'node:path';
import { ConfigError, validateConfig, type TidemarkConfig } from '@tidemark/policy';
import { parseDocument } from 'yaml';

export interface LoadConfigOptions {
  /** The config file; otherwise TIDEMARK_CONFIG, otherwise ./tidemark.yaml (relative paths from the cwd). */
  path?: string;
  env?: NodeJS.ProcessEnv;
}

export type LoadedConfig = TidemarkConfig & {
  /** Absolute path of the file the configuration was read from. */
  source: string;
};

const DEFAULT_PATH = './tidemark.yaml';

/** Reads, parses and validates the config file. Every failure is a ConfigError with a one-line-per-problem message. */
export function loadConfig(options: LoadConfigOptions = {}): LoadedConfig {
  const env = options.env ?? process.env;
  // An empty TIDEMARK_CONFIG (e.g. `TIDEMARK_CONFIG=` in a compose file) means "not set".
  const given = options.path ?? (env['TIDEMARK_CONFIG'] || DEFAULT_PATH);
  const source = resolve(given);
  const origin = normalize(given);
  const raw = parseYaml(readConfigFile(given, source), origin);
  const config = validateConfig(raw, origin);
  return {
    ...config,
    // Relative to the file, not the cwd, so every service reading the same file agrees on the directory.
    local: { ...config.local, path: resolve(dirname(source), config.local.path) },
    source,
  };
}

function readConfigFile(given: string, source: string): string {
  try {
    return readFileSync(source, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') {
      throw new ConfigError([
        { path: '', message: `config file ${given} not found (set TIDEMARK_CONFIG or pass --config)` },
      ]);
    }
    const reason = code ?? (error instanceof Error ? error.message : String(error));
    throw new ConfigError([{ path: '', message: `config file ${given} cannot be read (${reason})` }]);
  }
}

function parseYaml(text: string, origin: string): unknown {
  const document = parseDocument(text);
  // Later syntax errors are usually echoes of the first one, so only the first is reported.
  const [first] = document.errors;
  if (first !== undefined) {
    const [start] = first.linePos ?? [];
    const where = start === undefined ? origin : `${origin}:${start.line}:${start.col}`;
    // yaml appends " at line L, column C:" and a code excerpt; the position is already in `where`.
    const reason = first.message.replace(/ at line \d+, column \d+:[\s\S]*$/, '').replace(/\s+/g, ' ');
    throw new ConfigError([{ path: where, message: reason }]);
  }
  try {
    return document.toJS();
  } catch (error) {
    // toJS refuses documents such as alias bombs that parse without syntax errors.
    const reason = error instanceof Error ? error.message : String(error);
    throw new ConfigError([{ path: origin, message: reason }]);
  }
}
