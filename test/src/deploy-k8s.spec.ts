import { describe, test, before } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig } from '@tidemark/config';
import { envRefs } from '@tidemark/policy';
import { QUEUE_NAMES, QUEUE_PREFIX } from '@tidemark/queues';
import { QUEUE_DEMAND_PATH } from '@tidemark/scheduling';
import { parse, parseAllDocuments } from 'yaml';
import {
  SERVICES,
  defaultPortOf,
  entryOf,
  envRole,
  envVarsOf,
  queuesOf,
  refsNeededBy,
  type Service,
} from './support/app-env';
import { REPO_ROOT } from './support/stack';

// Types of the rendered objects, as far as the checks below read them.
interface EnvVar {
  name: string;
  value?: string;
  valueFrom?: {
    secretKeyRef?: { name: string; key: string };
    configMapKeyRef?: { name: string; key: string };
  };
}
interface Probe {
  httpGet?: { path: string; port: string | number };
}
interface Container {
  name: string;
  image: string;
  args?: string[];
  env?: EnvVar[];
  ports?: { name?: string; containerPort: number }[];
  livenessProbe?: Probe;
  readinessProbe?: Probe;
  resources?: { requests?: Record<string, string>; limits?: Record<string, string> };
  securityContext?: {
    runAsNonRoot?: boolean;
    readOnlyRootFilesystem?: boolean;
    allowPrivilegeEscalation?: boolean;
    capabilities?: { drop?: string[] };
  };
  volumeMounts?: { name: string; mountPath: string }[];
}
interface PodSpec {
  serviceAccountName?: string;
  terminationGracePeriodSeconds?: number;
  securityContext?: { runAsNonRoot?: boolean };
  topologySpreadConstraints?: unknown[];
  containers: Container[];
  volumes?: { name: string; configMap?: { name: string }; persistentVolumeClaim?: { claimName: string } }[];
}
interface K8sObject {
  apiVersion: string;
  kind: string;
  metadata: {
    name: string;
    namespace?: string;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
  };
  spec?: Record<string, unknown>;
  data?: Record<string, string>;
}
interface Deployment extends K8sObject {
  spec: { template: { metadata: { labels: Record<string, string> }; spec: PodSpec } };
}
interface Trigger {
  type: string;
  metadata: Record<string, string>;
  authenticationRef?: { name: string };
}
interface ScaledObject extends K8sObject {
  spec: {
    scaleTargetRef: { name: string };
    minReplicaCount?: number;
    maxReplicaCount?: number;
    fallback?: { failureThreshold: number; replicas: number };
    triggers: Trigger[];
  };
}

const OVERLAY = join(REPO_ROOT, 'deploy', 'k8s', 'overlays', 'aks');
const hasKubectl = spawnSync('kubectl', ['version', '--client'], { encoding: 'utf8' }).status === 0;

// The models are ES modules exported for `import` only; require(esm) by file path works with Node 24.
type Model = new (data: unknown) => { validate(): void };
const load = createRequire(__filename);
const MODEL_PACKAGES: Record<string, string> = {
  v1: 'kubernetes-models/v1',
  'apps/v1': 'kubernetes-models/apps/v1',
  'policy/v1': 'kubernetes-models/policy/v1',
  'networking.k8s.io/v1': 'kubernetes-models/networking.k8s.io/v1',
  'keda.sh/v1alpha1': '@kubernetes-models/keda/keda.sh/v1alpha1',
  'monitoring.coreos.com/v1': '@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1',
  'monitoring.coreos.com/v1alpha1': '@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1alpha1',
};
function modelFor(apiVersion: string, kind: string): Model {
  const pkg = MODEL_PACKAGES[apiVersion];
  assert.ok(pkg, `no schema known for apiVersion ${apiVersion} (${kind})`);
  const exports = load(join(REPO_ROOT, 'node_modules', pkg, 'index.js')) as Record<string, Model | undefined>;
  const model = exports[kind];
  assert.ok(model, `${pkg} has no ${kind}`);
  return model;
}

// Secrets are referenced by name, never rendered into the manifests (their values live in a secret store).
const REFERENCED_SECRETS = new Set(['tidemark-redis', 'tidemark-targets']);

describe('deploy/k8s overlays/aks', { skip: hasKubectl ? false : 'kubectl is not installed' }, () => {
  let objects: K8sObject[] = [];
  const find = (kind: string, name: string): K8sObject => {
    const found = objects.find((o) => o.kind === kind && o.metadata.name === name);
    assert.ok(found, `${kind} ${name} is not rendered`);
    return found;
  };
  const deploymentNamed = (name: string): Deployment => find('Deployment', name) as Deployment;
  const configMap = (prefix: string): K8sObject => {
    const found = objects.filter((o) => o.kind === 'ConfigMap' && o.metadata.name.startsWith(`${prefix}-`));
    assert.equal(found.length, 1, `one ConfigMap ${prefix}-<hash>`);
    return found[0] as K8sObject;
  };
  const container = (service: Service): Container => {
    const pod = deploymentNamed(`tidemark-${service}`).spec.template.spec;
    assert.equal(pod.containers.length, 1);
    return pod.containers[0] as Container;
  };

  before(() => {
    const result = spawnSync('kubectl', ['kustomize', OVERLAY], { encoding: 'utf8', maxBuffer: 64 << 20 });
    assert.equal(result.status, 0, result.stderr);
    objects = parseAllDocuments(result.stdout).map((doc) => doc.toJS() as K8sObject);
  });

  test('every object validates against its Kubernetes or CRD schema', () => {
    assert.ok(objects.length > 20, `only ${objects.length} objects rendered`);
    for (const object of objects) {
      const Model = modelFor(object.apiVersion, object.kind);
      assert.doesNotThrow(() => {
        new Model(object).validate();
      }, `${object.kind} ${object.metadata.name}`);
    }
    const kinds = new Set(objects.map((o) => o.kind));
    for (const kind of [
      'Namespace',
      'ServiceAccount',
      'ConfigMap',
      'Deployment',
      'Service',
      'PodDisruptionBudget',
      'PersistentVolumeClaim',
      'ScaledObject',
      'TriggerAuthentication',
      'NetworkPolicy',
      'ServiceMonitor',
      'PrometheusRule',
      'AlertmanagerConfig',
    ])
      assert.ok(kinds.has(kind), `no ${kind}`);
    assert.ok(!kinds.has('Secret'), 'secrets are referenced, not rendered');
    for (const object of objects.filter((o) => o.kind !== 'Namespace'))
      assert.equal(object.metadata.namespace, 'tidemark', `${object.kind} ${object.metadata.name} namespace`);
  });

  test('the schema check rejects a broken object (it can fail)', () => {
    const deployment = structuredClone(deploymentNamed('tidemark-dumper'));
    (deployment.spec.template.spec.containers[0] as { ports: unknown[] }).ports = [{ containerPort: 'http' }];
    assert.throws(() => {
      new (modelFor('apps/v1', 'Deployment'))(deployment).validate();
    });
  });

  for (const service of SERVICES) {
    describe(service, () => {
      test('runs its compiled entry point, listens on its default port, probes /healthz and /readyz', () => {
        const c = container(service);
        const entry = entryOf(service);
        assert.ok(existsSync(entry.source), `${entry.source} is missing`);
        assert.deepEqual(c.args, [entry.compiled]);
        const port = defaultPortOf(service);
        assert.deepEqual(c.ports, [{ name: 'http', containerPort: port, protocol: 'TCP' }]);
        assert.equal(c.env?.find((e) => e.name === 'PORT')?.value, String(port));
        assert.deepEqual(c.livenessProbe?.httpGet, { path: '/healthz', port: 'http' });
        assert.deepEqual(c.readinessProbe?.httpGet, { path: '/readyz', port: 'http' });
        const svc = find('Service', `tidemark-${service}`).spec as {
          ports: { port: number; targetPort: string }[];
        };
        assert.deepEqual(
          svc.ports.map((p) => [p.port, p.targetPort]),
          [[port, 'http']],
        );
      });

      test('gets every environment variable its code reads', () => {
        const env = new Map((container(service).env ?? []).map((e) => [e.name, e]));
        const read = envVarsOf(service);
        for (const name of read) {
          const role = envRole(name);
          assert.ok(
            role,
            `${service} reads ${name}: classify it in test/src/support/app-env.ts and deploy it`,
          );
          if (role === 'required') assert.ok(env.has(name), `${service} needs ${name}`);
        }
        assert.ok(
          env.has('AZURE_STORAGE_ACCOUNT_URL') && !env.has('AZURE_STORAGE_CONNECTION_STRING'),
          'storage by workload identity (account URL), never a key',
        );
        if (read.has('AZURE_SERVICEBUS_NAMESPACE'))
          assert.ok(env.has('AZURE_SERVICEBUS_NAMESPACE'), 'events go to Service Bus on AKS');
        for (const variable of env.values()) {
          assert.ok(
            read.has(variable.name) || envRefsOfConfig().includes(variable.name),
            `${service} sets ${variable.name}, which its code never reads`,
          );
          const secret = variable.valueFrom?.secretKeyRef;
          if (secret) assert.ok(REFERENCED_SECRETS.has(secret.name), `unexpected Secret ${secret.name}`);
          const ref = variable.valueFrom?.configMapKeyRef;
          if (ref) {
            const map = find('ConfigMap', ref.name);
            assert.ok(map.data?.[ref.key], `ConfigMap ${ref.name} has no ${ref.key}`);
          }
          if (
            /PASSWORD|_URL$|CONNECTION_STRING/.test(variable.name) &&
            variable.name !== 'AZURE_STORAGE_ACCOUNT_URL'
          )
            assert.equal(variable.value, undefined, `${variable.name} must come from a Secret`);
        }
      });

      test('mounts the config and the local tier where the config says, with a loadable config', () => {
        const c = container(service);
        const pod = deploymentNamed(`tidemark-${service}`).spec.template.spec;
        const mounts = new Map((c.volumeMounts ?? []).map((m) => [m.name, m.mountPath]));
        const configPath = c.env?.find((e) => e.name === 'TIDEMARK_CONFIG')?.value;
        assert.equal(configPath, `${mounts.get('config')}/tidemark.yaml`);
        const config = loadClusterConfig();
        const volumes = new Map((pod.volumes ?? []).map((v) => [v.name, v]));
        assert.equal(volumes.get('config')?.configMap?.name, configMap('tidemark-config').metadata.name);
        if (service === 'archiver') {
          // No local tier: received WAL waits in a volume of the pod's own until it is in Blob Storage.
          assert.ok(!mounts.has('backups'));
          assert.equal(mounts.get('wal'), '/var/lib/tidemark/wal');
          assert.ok((volumes.get('wal') as { emptyDir?: unknown } | undefined)?.emptyDir);
          return;
        }
        if (service === 'notifier') {
          // Manifests come from Blob Storage; the local tier is none of its business.
          assert.ok(!mounts.has('backups'));
          return;
        }
        assert.equal(config.local.path, mounts.get('backups'));
        assert.equal(volumes.get('backups')?.persistentVolumeClaim?.claimName, 'tidemark-backups');
      });

      test('gets the target database URLs only if it opens the databases', () => {
        const env = new Set((container(service).env ?? []).map((e) => e.name));
        const needed = refsNeededBy(service, loadClusterConfig().targets, envRefs);
        for (const name of envRefsOfConfig()) {
          if (needed.includes(name)) assert.ok(env.has(name), `${service} opens targets and needs ${name}`);
          else assert.ok(!env.has(name), `${service} never opens that database and must not get ${name}`);
        }
      });

      test('runs hardened: non-root, read-only root, no capabilities, resources, spread, grace period', () => {
        const deployment = deploymentNamed(`tidemark-${service}`);
        const pod = deployment.spec.template.spec;
        const c = container(service);
        assert.equal(pod.securityContext?.runAsNonRoot, true);
        const hardened = c.securityContext;
        assert.ok(hardened, 'container securityContext');
        assert.equal(hardened.runAsNonRoot, true);
        assert.equal(hardened.readOnlyRootFilesystem, true);
        assert.equal(hardened.allowPrivilegeEscalation, false);
        assert.deepEqual(hardened.capabilities?.drop, ['ALL']);
        assert.ok(
          c.resources?.requests?.['cpu'] && c.resources.requests['memory'] && c.resources.limits?.['memory'],
        );
        assert.ok((pod.topologySpreadConstraints ?? []).length > 0);
        const minimumGrace: Record<Service, number> = {
          scheduler: 30,
          dumper: 600,
          uploader: 300,
          verifier: 300,
          retention: 60,
          archiver: 60,
          notifier: 60,
        };
        assert.ok((pod.terminationGracePeriodSeconds ?? 30) >= minimumGrace[service]);
        assert.ok(c.image.includes('/tidemark:'), `image ${c.image} comes from the overlay's registry`);
        const pdb = find('PodDisruptionBudget', `tidemark-${service}`).spec as {
          selector: { matchLabels: Record<string, string> };
        };
        for (const [key, value] of Object.entries(pdb.selector.matchLabels))
          assert.equal(deployment.spec.template.metadata.labels[key], value);
      });

      test('uses its own service account, federated to its own identity', () => {
        const deployment = deploymentNamed(`tidemark-${service}`);
        assert.equal(deployment.spec.template.spec.serviceAccountName, `tidemark-${service}`);
        assert.equal(deployment.spec.template.metadata.labels['azure.workload.identity/use'], 'true');
        const account = find('ServiceAccount', `tidemark-${service}`);
        const clientId = account.metadata.annotations?.['azure.workload.identity/client-id'];
        assert.match(clientId ?? '', /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
        const others = SERVICES.filter((s) => s !== service).map(
          (s) =>
            find('ServiceAccount', `tidemark-${s}`).metadata.annotations?.[
              'azure.workload.identity/client-id'
            ],
        );
        assert.ok(!others.includes(clientId), `${service} shares its identity`);
        const pinned = container(service).env?.find((e) => e.name === 'AZURE_CLIENT_ID');
        assert.ok(
          pinned === undefined || pinned.value === clientId,
          'AZURE_CLIENT_ID names another identity',
        );
      });

      test('scales with KEDA on the Redis lists of exactly the queue it consumes', () => {
        if (service === 'archiver') {
          // It consumes no queue: a fixed pair of replicas, one streaming each target under its lease.
          assert.deepEqual(queuesOf(service), []);
          assert.ok(
            !objects.some((o) => o.kind === 'ScaledObject' && o.metadata.name === 'tidemark-archiver'),
          );
          const replicas = (deploymentNamed('tidemark-archiver').spec as { replicas?: number }).replicas;
          assert.ok((replicas ?? 1) >= 2, 'at least two replicas, so another takes over a dead one');
          return;
        }
        const scaled = find('ScaledObject', `tidemark-${service}`) as ScaledObject;
        assert.equal(scaled.spec.scaleTargetRef.name, `tidemark-${service}`);
        // One queue per service, but the verifier's two (verify and drill): each list of each is a trigger.
        const queues = queuesOf(service);
        assert.equal(
          queues.length,
          service === 'verifier' ? 2 : 1,
          `${service} consumes ${queues.join(', ')}`,
        );
        const lists = scaled.spec.triggers
          .filter((t) => t.type === 'redis')
          .map((t) => {
            assert.equal(t.authenticationRef?.name, 'tidemark-redis');
            assert.equal(t.metadata['enableTLS'], 'true', 'Azure Cache for Redis is TLS only');
            return t.metadata['listName'];
          });
        assert.deepEqual(
          [...lists].sort(),
          queues
            .flatMap((queue) => [`${QUEUE_PREFIX}:${queue}:wait`, `${QUEUE_PREFIX}:${queue}:active`])
            .sort(),
        );
        const scalesToZero = ['dumper', 'uploader', 'verifier'].includes(service);
        // The notifier also consumes the event bus: two always, so one dying leaves the other delivering.
        assert.equal(scaled.spec.minReplicaCount, scalesToZero ? 0 : service === 'notifier' ? 2 : 1);
        const others = scaled.spec.triggers.filter((t) => t.type !== 'redis');
        if (!scalesToZero) {
          assert.deepEqual(others, [], 'a service that keeps a replica needs no demand signal');
          return;
        }
        // Scaled to zero, it must see delayed and prioritized jobs too: the scheduler's demand signal.
        assert.deepEqual(
          others.map((t) => t.type),
          queues.map(() => 'metrics-api'),
        );
        assert.deepEqual(
          others.map((t) => t.metadata['valueLocation']).sort(),
          queues.map((queue) => `${queue}.demand`).sort(),
        );
        for (const trigger of others) checkDemand(trigger.metadata);
        assert.deepEqual(scaled.spec.fallback, { failureThreshold: 3, replicas: 1 });
      });

      function checkDemand(demand: Record<string, string>): void {
        const url = new URL(demand['url'] ?? '');
        const schedulerService = find('Service', 'tidemark-scheduler');
        const port = (schedulerService.spec as { ports: { port: number }[] }).ports[0]?.port;
        assert.equal(
          url.hostname,
          `tidemark-scheduler.${schedulerService.metadata.namespace ?? ''}.svc.cluster.local`,
        );
        assert.equal(Number(url.port), port);
        assert.equal(url.pathname, QUEUE_DEMAND_PATH);
        assert.equal(demand['activationTargetValue'], '0');
        assert.equal(
          demand['targetValue'],
          (find('ScaledObject', `tidemark-${service}`) as ScaledObject).spec.triggers[0]?.metadata[
            'listLength'
          ],
        );
      }
    });
  }

  test('the KEDA triggers cover exactly the queues of libs/queues', () => {
    const waiting = objects
      .filter((o): o is ScaledObject => o.kind === 'ScaledObject')
      .flatMap((o) => o.spec.triggers.map((t) => t.metadata['listName'] ?? ''))
      .filter((name) => name.endsWith(':wait'))
      .map((name) => {
        const [prefix, queue] = name.split(':');
        assert.equal(prefix, QUEUE_PREFIX);
        return queue;
      });
    assert.deepEqual([...waiting].sort(), [...QUEUE_NAMES].sort());
  });

  test('the local tier is one ReadWriteMany Azure Files claim', () => {
    const pvc = find('PersistentVolumeClaim', 'tidemark-backups').spec as {
      accessModes: string[];
      storageClassName: string;
    };
    assert.deepEqual(pvc.accessModes, ['ReadWriteMany']);
    assert.equal(pvc.storageClassName, 'azurefile-csi');
  });

  test('the ServiceMonitor selects every service and scrapes /metrics on the http port', () => {
    const monitor = find('ServiceMonitor', 'tidemark').spec as {
      selector: { matchLabels: Record<string, string> };
      endpoints: { port: string; path: string }[];
    };
    assert.deepEqual(
      monitor.endpoints.map((e) => [e.port, e.path]),
      [['http', '/metrics']],
    );
    for (const service of SERVICES) {
      const labels = find('Service', `tidemark-${service}`).metadata.labels ?? {};
      for (const [key, value] of Object.entries(monitor.selector.matchLabels))
        assert.equal(labels[key], value);
    }
  });

  test('the PrometheusRule carries exactly deploy/prometheus/tidemark.rules.yml (regenerate if this fails)', () => {
    const rules = parse(
      readFileSync(join(REPO_ROOT, 'deploy', 'prometheus', 'tidemark.rules.yml'), 'utf8'),
    ) as {
      groups: unknown[];
    };
    const rule = find('PrometheusRule', 'tidemark');
    assert.deepEqual(
      (rule.spec as { groups: unknown[] }).groups,
      rules.groups,
      'run: node deploy/k8s/generate-prometheus-rule.mjs',
    );
  });

  test('the NetworkPolicy admits only scraping, the scheduler API and KEDA reading the scheduler, and covers every pod', () => {
    const policy = find('NetworkPolicy', 'tidemark').spec as {
      podSelector: { matchLabels: Record<string, string> };
      policyTypes: string[];
      ingress: {
        ports: { port: string | number }[];
        from: { namespaceSelector?: { matchLabels: Record<string, string> } }[];
      }[];
    };
    assert.deepEqual([...policy.policyTypes].sort(), ['Egress', 'Ingress']);
    const ports = policy.ingress.flatMap((rule) => rule.ports.map((p) => p.port));
    assert.deepEqual(ports, ['http', defaultPortOf('scheduler'), defaultPortOf('scheduler')]);
    assert.equal(
      policy.ingress[2]?.from[0]?.namespaceSelector?.matchLabels['kubernetes.io/metadata.name'],
      'keda',
      'the metrics-api triggers are read by the KEDA operator',
    );
    for (const service of SERVICES) {
      const labels = deploymentNamed(`tidemark-${service}`).spec.template.metadata.labels;
      for (const [key, value] of Object.entries(policy.podSelector.matchLabels))
        assert.equal(labels[key], value);
    }
  });

  // The cluster config, as the services will read it from the ConfigMap.
  let loaded: ReturnType<typeof loadConfig> | undefined;
  function loadClusterConfig(): ReturnType<typeof loadConfig> {
    if (loaded) return loaded;
    const dir = mkdtempSync(join(tmpdir(), 'tidemark-k8s-config-'));
    try {
      const file = join(dir, 'tidemark.yaml');
      writeFileSync(file, configMap('tidemark-config').data?.['tidemark.yaml'] ?? '');
      loaded = loadConfig({ path: file, env: {} });
      return loaded;
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }
  function envRefsOfConfig(): string[] {
    return [...new Set(loadClusterConfig().targets.flatMap((t) => envRefs(t.url)))];
  }
});

const hasTerraform = spawnSync('terraform', ['version'], { encoding: 'utf8' }).status === 0;

describe('deploy/terraform', { skip: hasTerraform ? false : 'terraform is not installed' }, () => {
  const dir = join(REPO_ROOT, 'deploy', 'terraform');

  test('is formatted (terraform fmt -check)', () => {
    const result = spawnSync('terraform', ['fmt', '-check', '-recursive', '-diff', dir], {
      encoding: 'utf8',
    });
    assert.equal(result.status, 0, `terraform fmt would change:\n${result.stdout}${result.stderr}`);
  });

  // `terraform validate` needs the azurerm provider, which `init` downloads; offline this is skipped.
  test('validates when the azurerm provider can be installed', (t) => {
    const data = mkdtempSync(join(tmpdir(), 'tidemark-tf-'));
    try {
      const env = { ...process.env, TF_DATA_DIR: data, TF_IN_AUTOMATION: '1' };
      const init = spawnSync('terraform', [`-chdir=${dir}`, 'init', '-backend=false', '-input=false'], {
        encoding: 'utf8',
        env,
        timeout: 120_000,
      });
      if (init.status !== 0) {
        t.skip('terraform init cannot install the azurerm provider here (no registry access)');
        return;
      }
      const validate = spawnSync('terraform', [`-chdir=${dir}`, 'validate', '-no-color'], {
        encoding: 'utf8',
        env,
      });
      assert.equal(validate.status, 0, validate.stdout + validate.stderr);
    } finally {
      rmSync(data, { recursive: true, force: true });
      rmSync(join(dir, '.terraform.lock.hcl'), { force: true });
    }
  });

  test('federates each identity to its own service account and keeps delete from the writers', () => {
    const identity = readFileSync(join(dir, 'identity.tf'), 'utf8');
    assert.match(
      identity,
      /subject\s+= "system:serviceaccount:\$\{var\.kubernetes_namespace\}:tidemark-\$\{each\.key\}"/,
    );
    for (const service of SERVICES)
      assert.match(identity, new RegExp(`\\b${service}\\s+= "(reader|writer|retention|wal_archiver)"`));
    const writer =
      /resource "azurerm_role_definition" "backup_writer" \{([\s\S]*?)\n\}/.exec(identity)?.[1] ?? '';
    assert.ok(
      writer.includes('blobs/write') && !writer.includes('/delete'),
      'the writer role must not delete',
    );
    const retention =
      /resource "azurerm_role_definition" "retention" \{([\s\S]*?)\n\}/.exec(identity)?.[1] ?? '';
    assert.ok(retention.includes('blobs/delete') && !retention.includes('deleteBlobVersion'));
    // The archiver writes WAL and never deletes it; the one delete it has is of its own replaced partials.
    const archiver =
      /resource "azurerm_role_definition" "wal_archiver" \{([\s\S]*?)\n\}/.exec(identity)?.[1] ?? '';
    assert.ok(
      archiver.includes('blobs/write') && !archiver.includes('/delete'),
      'the archiver role must not delete',
    );
    const partials =
      /resource "azurerm_role_assignment" "wal_partials" \{([\s\S]*?)\n\}/.exec(identity)?.[1] ?? '';
    assert.match(partials, /StringLike '\*\/wal\/\*\.partial\.zst'/, 'delete only of partial segments');
    assert.match(partials, /principal_id\s+= azurerm_user_assigned_identity\.service\["archiver"\]/);
    assert.match(readFileSync(join(dir, 'storage.tf'), 'utf8'), /versioning_enabled = true/);
  });
});
