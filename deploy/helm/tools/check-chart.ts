// Checks the Helm chart (deploy/helm/tenantry) and the Kustomize base made from it, with the real
// helm binaries (Helm 4 and Helm 3) and kubectl that scripts/ci-helm.sh installs:
//   - values.schema.json (Ajv, draft-07) accepts values.yaml and every examples/*.yaml, and refuses
//     every bad-values/*.yaml; both Helms refuse each bad file too, naming what is wrong;
//   - `helm lint --strict` passes for every example, on both Helms;
//   - every example renders with both Helms to the same output (and from the packaged chart), and
//     every rendered document is valid for its apiVersion and kind (k8s-validate.ts: Kubernetes'
//     schemas, unknown fields refused);
//   - what a schema cannot see: selectors that select the pods, Secrets that exist when the pods
//     reading them start (the migration hook included), the restrictive securityContext, probes,
//     images by registry and digest;
//   - the validator itself refuses deliberately broken documents;
//   - deploy/kustomize/base is what the chart renders for examples/minimal.yaml, and it and the
//     example overlay build with `kubectl kustomize` into valid documents.
// Usage (scripts/ci-helm.sh passes the binaries):
//   node deploy/helm/tools/check-chart.ts --helm PATH --helm PATH --kubectl PATH [--write-kustomize]
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { parseArgs } from 'node:util';
import { Ajv, type ErrorObject } from 'ajv';
import { parse, parseAllDocuments, stringify } from 'yaml';
import { validateObject } from './k8s-validate.ts';

const root = join(import.meta.dirname, '../../..');
const chartDir = join(root, 'deploy/helm/tenantry');
const examplesDir = join(chartDir, 'examples');
const toolsDir = import.meta.dirname;
const kustomizeBaseDir = join(root, 'deploy/kustomize/base');
const kustomizeOverlayDir = join(root, 'deploy/kustomize/overlays/example');
const RELEASE = ['tenantry', '--namespace', 'tenantry'];

const { values: args } = parseArgs({
  options: {
    helm: { type: 'string', multiple: true },
    kubectl: { type: 'string' },
    'write-kustomize': { type: 'boolean', default: false },
  },
});
const kubectl = args.kubectl;
if (!args.helm?.length || kubectl === undefined) {
  process.stderr.write(
    'usage: check-chart.ts --helm PATH [--helm PATH] --kubectl PATH [--write-kustomize]\n',
  );
  process.exit(2);
}

const out = (line: string): void => {
  process.stdout.write(`${line}\n`);
};
const failures: string[] = [];
let checks = 0;
/** Records one check: `problems` empty means it passed. */
function check(what: string, problems: readonly string[]): void {
  checks++;
  for (const problem of problems) failures.push(`${what}: ${problem}`);
}

interface Run {
  readonly status: number | null;
  readonly stdout: string;
  readonly stderr: string;
}
// No command here may reach a cluster: an empty kubeconfig leaves none to reach.
const kubeconfig = join(mkdtempSync(join(tmpdir(), 'tenantry-kubeconfig-')), 'config');
writeFileSync(kubeconfig, '');
function run(command: string, commandArgs: readonly string[]): Run {
  const result = spawnSync(command, commandArgs, {
    encoding: 'utf8',
    maxBuffer: 64 * 1024 * 1024,
    env: { ...process.env, KUBECONFIG: kubeconfig },
  });
  if (result.error) throw result.error;
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

const helms = args.helm.map((bin) => ({ bin, version: run(bin, ['version', '--short']).stdout.trim() }));
// The first --helm renders the Kustomize base and the self-check's documents.
const helm = helms[0] ?? { bin: '', version: '' };

// --- the manifests ------------------------------------------------------------------------------
interface Metadata {
  name: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  namespace?: string;
}
interface Manifest {
  apiVersion: string;
  kind: string;
  metadata: Metadata;
  // The documents are valid Kubernetes objects (checked first); the checks read them loosely.
  // biome-ignore lint/suspicious/noExplicitAny: a rendered object's spec, already schema-checked
  spec?: any;
  stringData?: Record<string, string>;
}
interface LabelSelector {
  matchLabels?: Record<string, string>;
  matchExpressions?: { key: string; operator: string; values?: string[] }[];
}
interface EnvVar {
  name: string;
  value?: string;
  valueFrom?: { secretKeyRef?: { name: string; key: string; optional?: boolean } };
}
interface Container {
  name: string;
  image: string;
  env?: EnvVar[];
  securityContext?: {
    allowPrivilegeEscalation?: boolean;
    readOnlyRootFilesystem?: boolean;
    runAsNonRoot?: boolean;
    capabilities?: { drop?: string[] };
  };
  livenessProbe?: { httpGet?: { path: string } };
  readinessProbe?: { httpGet?: { path: string } };
  startupProbe?: { httpGet?: { path: string } };
}
interface PodSpec {
  containers: Container[];
  securityContext?: { runAsNonRoot?: boolean; runAsUser?: number; seccompProfile?: { type: string } };
}

function documents(yamlText: string): Manifest[] {
  return parseAllDocuments(yamlText)
    .map((doc) => doc.toJS() as Manifest | null)
    .filter((doc): doc is Manifest => doc !== null);
}

const podTemplate = (doc: Manifest): { metadata?: Metadata; spec: PodSpec } | undefined =>
  ['Deployment', 'StatefulSet', 'Job'].includes(doc.kind) ? doc.spec.template : undefined;

const hooks = (doc: Manifest): string[] => doc.metadata.annotations?.['helm.sh/hook']?.split(',') ?? [];
const hookWeight = (doc: Manifest): number => Number(doc.metadata.annotations?.['helm.sh/hook-weight'] ?? 0);

function selects(selector: LabelSelector, labels: Record<string, string> = {}): boolean {
  const byLabels = Object.entries(selector.matchLabels ?? {}).every(([key, value]) => labels[key] === value);
  const byExpressions = (selector.matchExpressions ?? []).every((expression) => {
    const value = labels[expression.key];
    if (expression.operator === 'In') return value !== undefined && (expression.values ?? []).includes(value);
    if (expression.operator === 'NotIn')
      return value === undefined || !(expression.values ?? []).includes(value);
    if (expression.operator === 'Exists') return value !== undefined;
    return value === undefined;
  });
  return byLabels && byExpressions;
}

function deepMerge(base: Record<string, unknown>, over: Record<string, unknown>): Record<string, unknown> {
  const merged: Record<string, unknown> = { ...base };
  for (const [key, value] of Object.entries(over)) {
    const current = merged[key];
    merged[key] =
      value && typeof value === 'object' && !Array.isArray(value) && current && typeof current === 'object'
        ? deepMerge(current as Record<string, unknown>, value as Record<string, unknown>)
        : value;
  }
  return merged;
}

interface Values {
  existingSecret?: string;
  image?: { digest?: string };
  global?: { imageRegistry?: string };
  externalDatabase?: { existingSecret?: string };
  postgresql?: { enabled?: boolean; image?: { digest?: string }; auth?: { existingSecret?: string } };
}

/** What a schema cannot see, in one release's documents. */
function releaseProblems(docs: Manifest[], values: Values): string[] {
  const problems: string[] = [];
  const find = (kind: string, name: string) => docs.find((d) => d.kind === kind && d.metadata.name === name);
  // Secrets the user makes before installing: named in values, never rendered.
  const userSecrets = new Set(
    [
      values.existingSecret,
      values.externalDatabase?.existingSecret,
      values.postgresql?.auth?.existingSecret,
    ].filter((name): name is string => Boolean(name)),
  );
  const deployment = docs.find((d) => d.kind === 'Deployment');
  const serverLabels = deployment?.spec.template.metadata.labels as Record<string, string> | undefined;
  if (!deployment || !serverLabels) return ['no Deployment'];

  for (const doc of docs) {
    const where = `${doc.kind}/${doc.metadata.name}`;
    const template = podTemplate(doc);
    if (template) {
      if (doc.kind !== 'Job' && !selects(doc.spec.selector, template.metadata?.labels))
        problems.push(`${where}: its selector does not select its own pod template`);
      const pod = template.spec;
      if (pod.securityContext?.runAsNonRoot !== true) problems.push(`${where}: pod runAsNonRoot is not true`);
      if (pod.securityContext?.seccompProfile?.type !== 'RuntimeDefault')
        problems.push(`${where}: pod seccompProfile is not RuntimeDefault`);
      const isTenantry = template.metadata?.labels?.['app.kubernetes.io/component'] !== 'postgresql';
      if (isTenantry && pod.securityContext?.runAsUser !== 10001)
        problems.push(`${where}: not run as the image's user 10001`);
      for (const container of pod.containers) {
        const sc = container.securityContext;
        if (sc?.allowPrivilegeEscalation !== false)
          problems.push(`${where}: ${container.name} may escalate privileges`);
        if (sc?.readOnlyRootFilesystem !== true)
          problems.push(`${where}: ${container.name} root filesystem is writable`);
        if (!sc?.capabilities?.drop?.includes('ALL'))
          problems.push(`${where}: ${container.name} keeps capabilities`);
        if (values.global?.imageRegistry && !container.image.startsWith(`${values.global.imageRegistry}/`))
          problems.push(`${where}: image ${container.image} is not from global.imageRegistry`);
        const digest = isTenantry ? values.image?.digest : values.postgresql?.image?.digest;
        if (digest && !container.image.endsWith(`@${digest}`))
          problems.push(`${where}: image ${container.image} is not pinned to ${digest}`);
        problems.push(...envProblems(where, container, doc, docs, userSecrets));
      }
    }
  }

  const server = (deployment.spec.template.spec as PodSpec).containers[0];
  if (server?.livenessProbe?.httpGet?.path !== '/healthz')
    problems.push('liveness probe is not GET /healthz');
  if (server?.readinessProbe?.httpGet?.path !== '/readyz')
    problems.push('readiness probe is not GET /readyz');
  if (server?.startupProbe?.httpGet?.path !== '/readyz') problems.push('startup probe is not GET /readyz');

  const service = find('Service', deployment.metadata.name);
  if (!service || !selects({ matchLabels: service.spec.selector }, serverLabels))
    problems.push('the Service does not select the control plane pods');
  for (const pdb of docs.filter((d) => d.kind === 'PodDisruptionBudget'))
    if (!selects(pdb.spec.selector, serverLabels))
      problems.push('the PodDisruptionBudget selects no control plane pod');
  for (const hpa of docs.filter((d) => d.kind === 'HorizontalPodAutoscaler')) {
    if (!find(hpa.spec.scaleTargetRef.kind, hpa.spec.scaleTargetRef.name))
      problems.push(
        `the HorizontalPodAutoscaler scales ${hpa.spec.scaleTargetRef.name}, which is not in the release`,
      );
    if (deployment.spec.replicas !== undefined)
      problems.push('the Deployment sets replicas while an autoscaler owns them');
  }
  for (const ingress of docs.filter((d) => d.kind === 'Ingress'))
    for (const rule of ingress.spec.rules)
      for (const path of rule.http.paths) {
        const backend = find('Service', path.backend.service.name);
        if (!backend?.spec.ports.some((p: { name?: string }) => p.name === path.backend.service.port.name))
          problems.push(`the Ingress sends ${rule.host}${path.path} to a Service port that does not exist`);
      }
  for (const policy of docs.filter((d) => d.kind === 'NetworkPolicy')) {
    const selected = docs.filter((d) => {
      const template = podTemplate(d);
      return template !== undefined && selects(policy.spec.podSelector, template.metadata?.labels);
    });
    if (selected.length === 0)
      problems.push(`NetworkPolicy/${policy.metadata.name} selects no pod of the release`);
  }

  const job = docs.find((d) => d.kind === 'Job');
  if (job) {
    const jobHooks = hooks(job);
    if (!jobHooks.includes('pre-upgrade')) problems.push('the migration Job does not run before upgrades');
    if (!jobHooks.includes('pre-install') && !values.postgresql?.enabled)
      problems.push('the migration Job does not run before install');
    if (job.spec.template.spec.serviceAccountName === deployment.spec.template.spec.serviceAccountName) {
      const account = find('ServiceAccount', job.spec.template.spec.serviceAccountName);
      if (account && hooks(account).length === 0)
        problems.push(
          "the migration Job runs as the release's ServiceAccount, which a pre-install hook runs before",
        );
    }
  }
  return problems;
}

/**
 * The environment of one container: each Secret it reads exists when the pod starts (a pre-install
 * hook runs before the release's own resources exist: it may read the user's Secrets and hooks of
 * lower weight only), has the key, and each $(VAR) names a variable defined before it.
 */
function envProblems(
  where: string,
  container: Container,
  owner: Manifest,
  docs: Manifest[],
  userSecrets: Set<string>,
): string[] {
  const problems: string[] = [];
  const defined: string[] = [];
  const ownerHooks = hooks(owner);
  for (const env of container.env ?? []) {
    for (const [, name] of env.value?.matchAll(/\$\(([A-Za-z_][A-Za-z0-9_]*)\)/g) ?? [])
      if (!defined.includes(name as string))
        problems.push(`${where}: ${env.name} uses $(${name}) before it is defined`);
    defined.push(env.name);
    const ref = env.valueFrom?.secretKeyRef;
    if (!ref || userSecrets.has(ref.name)) continue;
    const secret = docs.find((d) => d.kind === 'Secret' && d.metadata.name === ref.name);
    if (!secret) {
      problems.push(
        `${where}: ${env.name} reads Secret ${ref.name}, which neither the release nor values name`,
      );
      continue;
    }
    if (!ref.optional && secret.stringData?.[ref.key] === undefined)
      problems.push(`${where}: ${env.name} reads key ${ref.key}, which Secret ${ref.name} does not have`);
    // Before an upgrade the previous release's Secrets exist; before an install none does.
    if (
      ownerHooks.includes('pre-install') &&
      (!hooks(secret).includes('pre-install') || hookWeight(secret) >= hookWeight(owner))
    )
      problems.push(
        `${where}: the pre-install hook reads Secret ${ref.name}, which does not exist yet when the hook runs`,
      );
  }
  return problems;
}

// --- values.schema.json -------------------------------------------------------------------------
const schema = JSON.parse(readFileSync(join(chartDir, 'values.schema.json'), 'utf8')) as object;
const validateValues = new Ajv({ allErrors: true, strict: true }).compile(schema);
const describe = (errors: ErrorObject[] | null | undefined): string =>
  (errors ?? [])
    .map((e) => {
      const extra = e.keyword === 'additionalProperties' ? ` (${String(e.params.additionalProperty)})` : '';
      return `${e.instancePath || '/'} ${e.message ?? e.keyword}${extra}`;
    })
    .join('; ');

const examples = readdirSync(examplesDir)
  .filter((f) => f.endsWith('.yaml'))
  .sort();
const valueFiles = (example: string): string[] => {
  const secrets = join(toolsDir, 'ci-secrets', example);
  const files = [join(examplesDir, example)];
  if (readdirSync(join(toolsDir, 'ci-secrets')).includes(example)) files.push(secrets);
  return files;
};
const valuesFlags = (files: string[]): string[] => files.flatMap((f) => ['--values', f]);
const readValues = (file: string): Record<string, unknown> =>
  (parse(readFileSync(file, 'utf8')) ?? {}) as Record<string, unknown>;

const started = performance.now();
for (const file of [join(chartDir, 'values.yaml'), ...examples.map((e) => join(examplesDir, e))]) {
  const ok = validateValues(readValues(file));
  check(`values.schema.json accepts ${basename(file)}`, ok ? [] : [describe(validateValues.errors)]);
}

// --- the bad values files: the schema or the templates refuse each, naming the problem -----------
const badDir = join(toolsDir, 'bad-values');
for (const bad of readdirSync(badDir).sort()) {
  const file = join(badDir, bad);
  const text = readFileSync(file, 'utf8');
  const expect = /^# expect: (.+)$/m.exec(text)?.[1];
  const schemaVerdict = /^# schema: (valid|invalid)$/m.exec(text)?.[1];
  if (!expect || !schemaVerdict) {
    check(bad, ['needs "# expect: …" and "# schema: valid|invalid" lines']);
    continue;
  }
  const valid = validateValues(readValues(file));
  const ajvMessage = describe(validateValues.errors);
  const problems: string[] = [];
  if (schemaVerdict === 'invalid' && (valid || !ajvMessage.includes(expect)))
    problems.push(`Ajv should refuse it naming "${expect}", said: ${valid ? 'valid' : ajvMessage}`);
  if (schemaVerdict === 'valid' && !valid)
    problems.push(`the schema should accept it (the template refuses it): ${ajvMessage}`);
  const messages = [`ajv: ${valid ? 'valid' : ajvMessage}`];
  for (const { bin, version } of helms) {
    const result = run(bin, ['template', ...RELEASE, chartDir, '--values', file]);
    const message = result.stderr.trim().replace(/\s*\n\s*/g, ' ');
    if (result.status === 0 || !message.includes(expect))
      problems.push(
        `${version} should refuse it naming "${expect}", said: ${result.status === 0 ? 'rendered' : message}`,
      );
    messages.push(`${version}: ${message}`);
  }
  check(`bad values ${bad}`, problems);
  out(`refused bad-values/${bad}\n    ${messages.join('\n    ')}`);
}

// --- lint, render, validate ---------------------------------------------------------------------
const work = mkdtempSync(join(tmpdir(), 'tenantry-chart-'));
const packaged = run(helm.bin, ['package', chartDir, '--destination', work]);
check('helm package', packaged.status === 0 ? [] : [packaged.stderr]);
const chartArchive = join(work, readdirSync(work).find((f) => f.endsWith('.tgz')) ?? 'missing.tgz');

const counts: { example: string; documents: number; kinds: string }[] = [];
// Each example's documents as the first --helm renders them, for the self-checks below.
const exampleDocs = new Map<string, Manifest[]>();
for (const example of examples) {
  const files = valueFiles(example);
  const renders = new Map<string, string>();
  for (const { bin, version } of helms) {
    const lint = run(bin, ['lint', '--strict', chartDir, ...valuesFlags(files)]);
    check(`${version} lint --strict with ${example}`, lint.status === 0 ? [] : [lint.stdout + lint.stderr]);
    const rendered = run(bin, ['template', ...RELEASE, chartDir, ...valuesFlags(files)]);
    check(`${version} template with ${example}`, rendered.status === 0 ? [] : [rendered.stderr]);
    renders.set(version, rendered.stdout);
  }
  const [first, ...others] = [...renders.values()];
  if (first === undefined) continue;
  for (const [version, text] of [...renders].slice(1))
    check(
      `${example}: ${version} renders what ${helm.version} renders`,
      text === first ? [] : ['the outputs differ'],
    );
  // NOTES.txt renders only on install: Helm 4 dry-runs one without a cluster (Helm 3.17 would ask
  // a cluster for its version first, so it is not run).
  const dryRun = run(helm.bin, ['install', ...RELEASE, chartDir, '--dry-run=client', ...valuesFlags(files)]);
  check(
    `${example}: ${helm.version} install --dry-run=client prints the NOTES`,
    dryRun.status === 0 && /^NOTES:\nTenantry .* is installed/m.test(dryRun.stdout)
      ? []
      : [dryRun.stderr || 'no NOTES'],
  );
  const fromArchive = run(helm.bin, ['template', ...RELEASE, chartArchive, ...valuesFlags(files)]);
  check(
    `${example}: the packaged chart renders the same`,
    fromArchive.stdout === first ? [] : ['the outputs differ'],
  );

  // Every distinct output is validated (the Helms agree, so that is one).
  const docs = documents(first);
  exampleDocs.set(example, docs);
  for (const text of new Set(others.filter((o) => o !== first)))
    for (const doc of documents(text))
      check(`${example} (other Helm) ${doc.kind}/${doc.metadata.name}`, await validateObject(doc));
  for (const doc of docs) check(`${example}: ${doc.kind}/${doc.metadata.name}`, await validateObject(doc));
  const values = files.map(readValues).reduce(deepMerge, {}) as Values;
  check(`${example}: release checks`, releaseProblems(docs, values));
  counts.push({ example, documents: docs.length, kinds: docs.map((d) => d.kind).join(', ') });
}

// --- the validator refuses broken documents -----------------------------------------------------
const goodDeployment = exampleDocs.get('minimal.yaml')?.find((d) => d.kind === 'Deployment');
const broken: { what: string; expect: string; change: (d: Manifest) => void }[] = [
  {
    what: 'an unknown field in a container',
    expect: 'unknown field "imagePullPolice"',
    change: (d) => {
      d.spec.template.spec.containers[0].imagePullPolice = 'Always';
    },
  },
  {
    what: 'an unknown field in the securityContext',
    expect: 'unknown field "readOnlyRootFileSystem"',
    change: (d) => {
      d.spec.template.spec.containers[0].securityContext.readOnlyRootFileSystem = true;
    },
  },
  {
    what: 'a port number as a string',
    expect: 'containerPort must be integer',
    change: (d) => {
      d.spec.template.spec.containers[0].ports[0].containerPort = '8080';
    },
  },
  {
    what: 'a value outside its enum',
    expect: 'imagePullPolicy must be equal to one of the allowed values',
    change: (d) => {
      d.spec.template.spec.containers[0].imagePullPolicy = 'Sometimes';
    },
  },
  {
    what: 'a missing required field',
    expect: 'data/spec must have required property selector',
    change: (d) => {
      delete d.spec.selector;
    },
  },
  {
    what: 'a kind Kubernetes does not have',
    expect: 'no Kubernetes schema for apps/v1 Deploymnt',
    change: (d) => {
      d.kind = 'Deploymnt';
    },
  },
];
if (!goodDeployment) check('self-check', ['no Deployment in the minimal render']);
else
  for (const { what, expect, change } of broken) {
    const doc = structuredClone(goodDeployment);
    change(doc);
    const problems = await validateObject(doc);
    check(
      `the validator refuses ${what}`,
      problems.some((p) => p.includes(expect))
        ? []
        : [`expected "${expect}", got ${JSON.stringify(problems)}`],
    );
  }

// The release checks catch the known failure of migration hooks: a pre-install Job reading the
// release's own Secret, which Helm creates only after the pre-install hooks have run.
const externalUrlFiles = valueFiles('external-url.yaml');
const withHookSecret = structuredClone(exampleDocs.get('external-url.yaml') ?? []);
const hookJob = withHookSecret.find((d) => d.kind === 'Job');
for (const env of (hookJob?.spec.template.spec as PodSpec | undefined)?.containers[0]?.env ?? [])
  if (env.valueFrom?.secretKeyRef) env.valueFrom.secretKeyRef.name = 'tenantry';
const hookProblems = releaseProblems(
  withHookSecret,
  externalUrlFiles.map(readValues).reduce(deepMerge, {}) as Values,
);
check(
  'the release checks refuse a pre-install hook reading the release Secret',
  hookProblems.some((p) => p.includes('the pre-install hook reads Secret tenantry, which does not exist yet'))
    ? []
    : [`got ${JSON.stringify(hookProblems)}`],
);

// --- Kustomize: the base is the chart's output for examples/minimal.yaml, without hooks --------
/** The base's files, from the chart: Helm's own labels go, and so does the namespace (the overlay's). */
function kustomizeBase(): Map<string, string> {
  const rendered = run(helm.bin, [
    'template',
    ...RELEASE,
    chartDir,
    '--no-hooks',
    ...valuesFlags(valueFiles('minimal.yaml')),
  ]);
  if (rendered.status !== 0) throw new Error(rendered.stderr);
  const header =
    '# Generated from the Helm chart (deploy/helm/tenantry, values examples/minimal.yaml) by\n' +
    '# `bash scripts/ci-helm.sh --write-kustomize`. Do not edit: CI fails when it differs from the chart.\n';
  const files = new Map<string, string>();
  for (const doc of documents(rendered.stdout)) {
    delete doc.metadata.namespace;
    for (const labels of [doc.metadata.labels, podTemplate(doc)?.metadata?.labels]) {
      if (!labels) continue;
      delete labels['helm.sh/chart'];
      labels['app.kubernetes.io/managed-by'] = 'kustomize';
    }
    const name = `${doc.kind.toLowerCase()}.yaml`;
    if (files.has(name)) throw new Error(`two ${doc.kind} documents: name the files apart`);
    files.set(name, header + stringify(doc));
  }
  const kustomization = {
    apiVersion: 'kustomize.config.k8s.io/v1beta1',
    kind: 'Kustomization',
    resources: [...files.keys()].sort(),
  };
  files.set('kustomization.yaml', header + stringify(kustomization));
  return files;
}

const base = kustomizeBase();
if (args['write-kustomize']) {
  rmSync(kustomizeBaseDir, { recursive: true, force: true });
  mkdirSync(kustomizeBaseDir, { recursive: true });
  for (const [name, text] of base) writeFileSync(join(kustomizeBaseDir, name), text);
  out(`wrote ${base.size} files to deploy/kustomize/base`);
}
const onDisk = readdirSync(kustomizeBaseDir).sort();
check(
  'deploy/kustomize/base is what the chart renders',
  [...base].some(
    ([name, text]) => !onDisk.includes(name) || readFileSync(join(kustomizeBaseDir, name), 'utf8') !== text,
  ) || onDisk.length !== base.size
    ? ['it differs: run `bash scripts/ci-helm.sh --write-kustomize` and commit the result']
    : [],
);
// The overlay's image is checked as an air-gapped release's: from its registry, by its digest.
const overlay = readValues(join(kustomizeOverlayDir, 'kustomization.yaml')) as {
  images: { newName: string; digest: string }[];
};
const overlayImage = overlay.images[0];
for (const [dir, label, values] of [
  [kustomizeBaseDir, 'kustomize base', { existingSecret: 'tenantry' }],
  [
    kustomizeOverlayDir,
    'kustomize overlay',
    {
      existingSecret: 'tenantry',
      global: { imageRegistry: overlayImage?.newName.split('/')[0] ?? '' },
      image: { digest: overlayImage?.digest ?? '' },
    },
  ],
] as const) {
  const built = run(kubectl, ['kustomize', dir]);
  check(`kubectl kustomize ${label}`, built.status === 0 ? [] : [built.stderr]);
  const docs = documents(built.stdout);
  for (const doc of docs) check(`${label}: ${doc.kind}/${doc.metadata.name}`, await validateObject(doc));
  check(`${label}: release checks`, releaseProblems(docs, values));
  counts.push({ example: label, documents: docs.length, kinds: docs.map((d) => d.kind).join(', ') });
}
rmSync(work, { recursive: true, force: true });
rmSync(dirname(kubeconfig), { recursive: true, force: true });

// --- report -------------------------------------------------------------------------------------
out(
  `\nrendered with ${helms.map((h) => h.version).join(' and ')}; documents validated against Kubernetes' schemas:`,
);
for (const { example, documents: n, kinds } of counts)
  out(`  ${example.padEnd(22)} ${String(n).padStart(2)}  ${kinds}`);
const seconds = ((performance.now() - started) / 1000).toFixed(1);
if (failures.length > 0) {
  process.stderr.write(
    `\nproblems found (${failures.length}):\n${failures.map((f) => `  - ${f}`).join('\n')}\n`,
  );
  process.exit(1);
}
out(`helm chart: all ${checks} checks hold (${seconds} s)`);
