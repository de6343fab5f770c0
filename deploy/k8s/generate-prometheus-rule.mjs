#!/usr/bin/env node
// Wraps deploy/prometheus/tidemark.rules.yml (the one source of the alert rules, also loaded by the compose
// Prometheus and tested with promtool) into a PrometheusRule for kustomize, which cannot read files outside
// its own directory. Run after editing the rules: node deploy/k8s/generate-prometheus-rule.mjs
// test/src/deploy-k8s.spec.ts fails when the generated file is out of date.
import { readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parse, stringify } from 'yaml';

const root = resolve(import.meta.dirname, '..', '..');
const rules = parse(readFileSync(join(root, 'deploy', 'prometheus', 'tidemark.rules.yml'), 'utf8'));
const resource = {
  apiVersion: 'monitoring.coreos.com/v1',
  kind: 'PrometheusRule',
  metadata: { name: 'tidemark' },
  spec: { groups: rules.groups },
};
const header =
  '# Generated from deploy/prometheus/tidemark.rules.yml by deploy/k8s/generate-prometheus-rule.mjs; do not edit.\n';
writeFileSync(
  join(root, 'deploy', 'k8s', 'base', 'prometheus-rule.yaml'),
  header + stringify(resource, { lineWidth: 0 }),
);
