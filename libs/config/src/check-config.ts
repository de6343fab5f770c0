import { ConfigError, declaredTargets, immutabilityWarnings, type ConfigIssue } from '@tidemark/policy';
import {
  readConfigDocument,
  validateConfigDocument,
  type ConfigDocument,
  type LoadConfigOptions,
  type LoadedConfig,
} from './load-config';
import { SOURCE_KINDS } from '@tidemark/source-kinds';
import { channelEnvIssues, SERVICES_NOTIFYING } from './channels';
import { declaredTargetsOf, recipientEnvIssues, targetEnvIssues } from './secrets';
import { SERVICES_ENCRYPTING, SERVICES_OPENING_TARGETS } from './service-needs';

export interface ConfigProblem extends ConfigIssue {
  /** The services that would refuse to start over it; empty when every service and the CLI would. */
  services: string[];
}

export interface ConfigCheck {
  problems: ConfigProblem[];
  /** Settings that work but probably do not do what was meant (e.g. blobs locked longer than kept). */
  warnings: ConfigIssue[];
  /** The loaded config when the file itself is valid (problems may still name variables it needs). */
  config?: LoadedConfig;
}

/**
 * Every problem of the config file and of the environment it will run in: file, YAML, schema, cross-references
 * and urls written in the file, then each `${VAR}` a service needs that is unset or makes a url its source
 * cannot parse. Only a file that cannot be read or parsed at all stops the check early.
 */
export function checkConfig(options: LoadConfigOptions = {}): ConfigCheck {
  const env = options.env ?? process.env;
  let document: ConfigDocument;
  try {
    document = readConfigDocument(options);
  } catch (error) {
    return { problems: problemsOf(error), warnings: [] };
  }
  const problems: ConfigProblem[] = [];
  let config: LoadedConfig | undefined;
  try {
    config = validateConfigDocument(document);
  } catch (error) {
    problems.push(...problemsOf(error));
  }
  // With a broken file, the targets that are well-formed enough are still checked against the environment.
  const targets = config ? declaredTargetsOf(config) : declaredTargets(document.raw, SOURCE_KINDS);
  for (const { path, message } of targetEnvIssues(targets, env)) {
    problems.push({ path, message, services: [...SERVICES_OPENING_TARGETS] });
  }
  for (const { path, message } of config ? recipientEnvIssues(config, env) : []) {
    problems.push({ path, message, services: [...SERVICES_ENCRYPTING] });
  }
  for (const { path, message } of config ? channelEnvIssues(config, env) : []) {
    problems.push({ path, message, services: [...SERVICES_NOTIFYING] });
  }
  const warnings = config ? immutabilityWarnings(config) : [];
  return config ? { problems, warnings, config } : { problems, warnings };
}

/** A problem of the file itself stops every service and the CLI alike. */
function problemsOf(error: unknown): ConfigProblem[] {
  if (!(error instanceof ConfigError)) throw error;
  return error.issues.map(({ path, message }) => ({ path, message, services: [] }));
}
