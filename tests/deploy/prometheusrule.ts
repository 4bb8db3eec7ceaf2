/**
 * deploy/k8s/monitoring/prometheusrule.yaml is generated from
 * deploy/prometheus/uae-rules.yml (the file promtool checks and unit-tests),
 * so the Prometheus operator gets exactly the same rules. After editing the
 * rule file:
 *
 *   npx tsx tests/deploy/prometheusrule.ts --write
 *
 * tests/deploy/monitoring.test.ts fails while the two differ.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import YAML from 'yaml';

export const ROOT = join(fileURLToPath(new URL('.', import.meta.url)), '..', '..');
export const RULES_FILE = join(ROOT, 'deploy', 'prometheus', 'uae-rules.yml');
export const PROMETHEUS_RULE_FILE = join(ROOT, 'deploy', 'k8s', 'monitoring', 'prometheusrule.yaml');

const HEADER = `# GENERATED from deploy/prometheus/uae-rules.yml — do not edit; after changing
# the rule file run: npx tsx tests/deploy/prometheusrule.ts --write
# (tests/deploy/monitoring.test.ts fails while the two differ).
#
# The uae recording and alerting rules for the Prometheus operator
# (kube-prometheus-stack). The release label matches kube-prometheus-stack's
# default ruleSelector; see docs/deploy.md.
`;

export function renderPrometheusRule(rulesText: string = readFileSync(RULES_FILE, 'utf8')): string {
  const rules = YAML.parse(rulesText) as { groups: unknown[] };
  const doc = {
    apiVersion: 'monitoring.coreos.com/v1',
    kind: 'PrometheusRule',
    metadata: {
      name: 'uae',
      labels: { 'app.kubernetes.io/part-of': 'uae', release: 'kube-prometheus-stack' },
    },
    spec: { groups: rules.groups },
  };
  return HEADER + YAML.stringify(doc, { lineWidth: 0 });
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1] && process.argv.includes('--write')) {
  writeFileSync(PROMETHEUS_RULE_FILE, renderPrometheusRule());
  console.log(`wrote ${PROMETHEUS_RULE_FILE}`);
}
