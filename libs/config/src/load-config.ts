import { dirname, normalize, resolve } from 'node:path';
import { environmentOf } from '@tidemark/environment';
import { validateConfig, type TidemarkConfig } from '@tidemark/policy';
import { parseYaml, readConfigText } from './config-file';
import { EVENT_TYPES } from '@tidemark/events';
import { channelKindDescriptors } from '@tidemark/notification-channels';
import { sourceKinds } from '@tidemark/source-kinds';
import { literalUrlProblem } from './target-urls';

export interface LoadConfigOptions {
  /** The config file; otherwise TIDEMARK_CONFIG, otherwise ./tidemark.yaml (relative paths from the cwd). */
  path?: string;
  env?: NodeJS.ProcessEnv;
}

export type LoadedConfig = TidemarkConfig & {
  /** Absolute path of the file the configuration was read from. */
  source: string;
};

/** The config file as parsed YAML, before validation. */
export interface ConfigDocument {
  raw: unknown;
  /** Absolute path of the file. */
  source: string;
  /** The path as given, for messages. */
  origin: string;
}

const DEFAULT_PATH = './tidemark.yaml';

/**
 * Reads, parses and validates the config file, and parses every target url written out in it as its kind's source
 * would. Every failure is a ConfigError with a one-line-per-problem message. `${VAR}` references stay unresolved:
 * the services that need them check them at start (`assertServiceEnv`).
 */
export function loadConfig(options: LoadConfigOptions = {}): LoadedConfig {
  const document = readConfigDocument(options);
  return validateConfigDocument(document);
}

/** Finds, reads and parses the file; fails on anything that stops it from being read as YAML at all. */
export function readConfigDocument(options: LoadConfigOptions = {}): ConfigDocument {
  const env = environmentOf(options.env);
  // An empty TIDEMARK_CONFIG (e.g. `TIDEMARK_CONFIG=` in a compose file) means "not set" (libs/environment).
  const given = options.path ?? env.TIDEMARK_CONFIG ?? DEFAULT_PATH;
  const source = resolve(given);
  const origin = normalize(given);
  return { raw: parseYaml(readConfigText(given, source), origin), source, origin };
}

export function validateConfigDocument({ raw, source, origin }: ConfigDocument): LoadedConfig {
  const config = validateConfig(raw, origin, {
    literalUrl: literalUrlProblem,
    kinds: sourceKinds(),
    channelKinds: channelKindDescriptors(),
    eventTypes: EVENT_TYPES,
  });
  return {
    ...config,
    // Relative to the file, not the cwd, so every service reading the same file agrees on the directory.
    local: { ...config.local, path: resolve(dirname(source), config.local.path) },
    source,
  };
}
