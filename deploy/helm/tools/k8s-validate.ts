// Validates a Kubernetes object against the schema of its apiVersion and kind, strictly:
//   1. kubernetes-models: JSON Schemas generated from Kubernetes' own OpenAPI document (1.34),
//      compiled with Ajv. They check types, required fields, enums and formats (int32,
//      int-or-string), but, like the OpenAPI document, they let unknown fields through.
//   2. @kubernetes/client-node: the official client's models, generated from the same OpenAPI
//      document (release-1.36), list every field of every type. Walking the object with them
//      rejects the fields no type has: a misspelt or misplaced key, which the API server would
//      drop (or refuse, with strict field validation) and which would otherwise go unnoticed.
// An apiVersion/kind that neither knows is an error: there is nothing to check it against.
import * as models from '@kubernetes/client-node/dist/gen/models/all.js';

interface Attribute {
  readonly baseName: string;
  readonly type: string;
}
interface ModelClass {
  getAttributeTypeMap(): readonly Attribute[];
}
interface KubernetesModel {
  validate(): void;
}
type ModelConstructor = new (data: unknown) => KubernetesModel;

const modelClasses = models as unknown as Record<string, ModelClass | undefined>;

/** The client-node model of a type name (V1Deployment, Array<…> and maps are handled by the caller). */
function modelClass(type: string): ModelClass | undefined {
  const found = modelClasses[type];
  return typeof found?.getAttributeTypeMap === 'function' ? found : undefined;
}

const pascal = (text: string): string =>
  text
    .split(/[.-]/)
    .map((part) => part.charAt(0).toUpperCase() + part.slice(1))
    .join('');

/**
 * The client-node type of a top-level object: V1Deployment for apps/v1 Deployment; types whose kind
 * two groups share carry the group too (CoreV1Event, EventsV1Event).
 */
function topLevelType(apiVersion: string, kind: string): string | undefined {
  const [group, version] = apiVersion.includes('/') ? apiVersion.split('/') : ['', apiVersion];
  if (version === undefined || group === undefined) return undefined;
  const shortGroup = group.replace(/\.k8s\.io$/, '');
  const candidates = [
    `${pascal(shortGroup || 'core')}${pascal(version)}${kind}`,
    `${pascal(version)}${kind}`,
  ];
  return candidates.find((name) => modelClass(name) !== undefined);
}

/** Fields that no type at that place has, as `path: unknown field "x" (in Type)`. */
function unknownFields(value: unknown, type: string, path: string, out: string[]): void {
  if (value === null || value === undefined) return;
  const array = /^Array<(.+)>$/.exec(type)?.[1];
  if (array !== undefined) {
    if (Array.isArray(value))
      for (const [i, item] of value.entries()) unknownFields(item, array, `${path}/${i}`, out);
    return;
  }
  const map = /^\{ \[key: string\]: (.+); \}$/.exec(type);
  if (map?.[1] !== undefined) {
    if (typeof value === 'object' && !Array.isArray(value))
      for (const [key, item] of Object.entries(value)) unknownFields(item, map[1], `${path}/${key}`, out);
    return;
  }
  const model = modelClass(type);
  // Strings, numbers, IntOrString, Quantity, free-form objects: their types are step 1's to check.
  if (model === undefined || typeof value !== 'object' || Array.isArray(value)) return;
  const fields = new Map(model.getAttributeTypeMap().map((a) => [a.baseName, a.type]));
  for (const [key, item] of Object.entries(value)) {
    const fieldType = fields.get(key);
    if (fieldType === undefined)
      out.push(`${path}/${key}: unknown field "${key}" (${type} has no such field)`);
    else unknownFields(item, fieldType, `${path}/${key}`, out);
  }
}

/** The kubernetes-models class for apiVersion/kind, or undefined when it has none. */
async function schemaModel(apiVersion: string, kind: string): Promise<ModelConstructor | undefined> {
  if (!/^([a-z0-9.-]+\/)?v[0-9]+((alpha|beta)[0-9]+)?$/.test(apiVersion) || !/^[A-Z][A-Za-z0-9]*$/.test(kind))
    return undefined;
  try {
    const module = (await import(`kubernetes-models/${apiVersion}/${kind}`)) as Record<string, unknown>;
    const found = module[kind];
    return typeof found === 'function' ? (found as ModelConstructor) : undefined;
  } catch {
    // No such module: kubernetes-models has no schema for this apiVersion/kind.
    return undefined;
  }
}

/** Every problem of one object: empty when it is valid for its apiVersion and kind. */
export async function validateObject(object: unknown): Promise<string[]> {
  if (object === null || typeof object !== 'object' || Array.isArray(object)) return ['not an object'];
  const { apiVersion, kind } = object as { apiVersion?: unknown; kind?: unknown };
  if (typeof apiVersion !== 'string' || typeof kind !== 'string') return ['apiVersion and kind are required'];
  const Model = await schemaModel(apiVersion, kind);
  const type = topLevelType(apiVersion, kind);
  if (Model === undefined || type === undefined) return [`no Kubernetes schema for ${apiVersion} ${kind}`];
  const problems: string[] = [];
  try {
    new Model(object).validate();
  } catch (error) {
    problems.push(error instanceof Error ? error.message : String(error));
  }
  unknownFields(object, type, '', problems);
  return problems;
}
