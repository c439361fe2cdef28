// The manifest JSON Schema (draft-07, schema/manifest.schema.json) and its validator. Every ajv
// error becomes one problem with a JSON pointer and a sentence a user can act on; the schema's
// `description` of the failing field is the fix, so the schema file is the single place where the
// accepted form of each field is written down.

import type { ErrorObject } from 'ajv';
import manifestSchemaJson from '../../schema/manifest.schema.json' with { type: 'json' };
import { validate as validateGenerated } from './generated/manifest-validator.js';
import { suggest } from './iam-actions.ts';
import { escapePointer } from './positions.ts';

const deepFreeze = <T>(value: T): T => {
  if (value !== null && typeof value === 'object' && !Object.isFrozen(value)) {
    for (const child of Object.values(value)) deepFreeze(child);
    Object.freeze(value);
  }
  return value;
};

/** The manifest JSON Schema, as published by `errand schema`. */
export const MANIFEST_SCHEMA: Readonly<Record<string, unknown>> = deepFreeze(
  structuredClone(manifestSchemaJson) as Record<string, unknown>,
);

export interface SchemaProblem {
  /** JSON pointer of the offending value (or key, for unknown keys). */
  readonly path: string;
  /** Point at the key rather than its value (unknown keys). */
  readonly at: 'key' | 'value';
  readonly message: string;
  readonly fix?: string;
}

export type SchemaValidator = (value: unknown) => readonly SchemaProblem[];

/** Messages for the schema's oneOf/anyOf rules, keyed by the instance path they apply to. */
const ALTERNATIVES: readonly { readonly path: RegExp; readonly message: string; readonly fix: string }[] = [
  {
    path: /^$/,
    message: 'the manifest grants nothing: it has neither an aws nor an http section',
    fix: 'add aws.grants or http.grants',
  },
  {
    path: /^\/aws\/grants\/\d+$/,
    message: 'an AWS grant needs exactly one of resource or broadResource',
    fix: 'use resource for exact ARNs; broadResource only for ARN patterns with * or ?',
  },
  {
    path: /^\/http\/grants\/\d+$/,
    message: 'an HTTP grant needs exactly one of url or urlPattern',
    fix: 'use url for one exact URL; urlPattern only when a path segment varies',
  },
  {
    path: /^\/http\/grants\/\d+\/inject$/,
    message:
      'inject needs either header and value (a secret from the secrets directory) or oauth (a token Errand obtains), not both',
    fix: 'write header and value, or oauth',
  },
  {
    path: /^\/http$/,
    message: 'the http section is empty',
    fix: 'add grants or passthrough, or remove the http section',
  },
];

const MAX_SHOWN = 80;
/** A value as JSON, cut short: messages quote what the user wrote without echoing a whole file. */
export const show = (value: unknown): string => {
  const text = JSON.stringify(value) ?? String(value);
  return text.length > MAX_SHOWN ? `${text.slice(0, MAX_SHOWN)}…` : text;
};

const TYPE_NAMES: Readonly<Record<string, string>> = {
  string: 'a string',
  integer: 'an integer',
  number: 'a number',
  boolean: 'true or false',
  object: 'a mapping',
  array: 'a list',
  null: 'null',
};

const typeOf = (value: unknown): string =>
  value === null
    ? 'null'
    : Array.isArray(value)
      ? 'a list'
      : typeof value === 'object'
        ? 'a mapping'
        : typeof value === 'boolean'
          ? 'a boolean'
          : `a ${typeof value}`;

/** The description of a `#/definitions/x` reference, for "add x: …" fixes. */
const describeRef = (ref: string | undefined): string | undefined => {
  const name = ref?.startsWith('#/definitions/') ? ref.slice('#/definitions/'.length) : undefined;
  const definitions = MANIFEST_SCHEMA['definitions'] as Record<string, { description?: string }>;
  return name !== undefined ? definitions[name]?.description : undefined;
};

/**
 * The schema validator: code ajv generated from the schema ahead of time
 * (scripts/gen-manifest-validator.ts), so no schema is compiled at run time. The generated function
 * leaves the errors of its last call on itself; they are read right after the synchronous call,
 * before anything else can run.
 */
export function createSchemaValidator(): SchemaValidator {
  return (value) => {
    if (validateGenerated(value)) return [];
    return mapErrors(validateGenerated.errors ?? []);
  };
}

function mapErrors(errors: readonly ErrorObject[]): SchemaProblem[] {
  const problems: SchemaProblem[] = [];
  const valuePaths = new Set<string>();
  for (const error of errors) {
    // Errors inside oneOf/anyOf branches restate the rule the branch error already states.
    if (/\/(oneOf|anyOf)\/\d+\//.test(error.schemaPath)) continue;
    const problem = mapError(error);
    if (problem.at === 'value') {
      // One problem per value: a value failing both minLength and pattern needs one fix.
      if (valuePaths.has(problem.path)) continue;
      valuePaths.add(problem.path);
    }
    problems.push(problem);
  }
  return problems;
}

function mapError(error: ErrorObject): SchemaProblem {
  const path = error.instancePath;
  const parent = (error.parentSchema ?? {}) as { description?: string; properties?: Record<string, unknown> };
  // Field descriptions are written to follow "expected"; section descriptions are sentences.
  const description = parent.description;
  const expected =
    description !== undefined && /^[a-z0-9"]/.test(description) ? { fix: `expected ${description}` } : {};
  const params = error.params as Record<string, unknown>;
  switch (error.keyword) {
    case 'required': {
      const key = String(params['missingProperty']);
      const property = (parent.properties?.[key] ?? {}) as { description?: string; $ref?: string };
      const about = property.description ?? describeRef(property.$ref);
      return {
        path,
        at: 'value',
        message: `missing required key ${show(key)}`,
        fix: about !== undefined ? `add ${key}: ${about}` : `add ${key}`,
      };
    }
    case 'additionalProperties': {
      const key = String(params['additionalProperty']);
      const allowed = Object.keys(parent.properties ?? {});
      const near = suggest(key, allowed);
      return {
        path: `${path}/${escapePointer(key)}`,
        at: 'key',
        message: `unknown key ${show(key)}`,
        fix: near !== undefined ? `did you mean ${show(near)}?` : `allowed keys here: ${allowed.join(', ')}`,
      };
    }
    case 'type': {
      const types = ([] as string[]).concat(params['type'] as string | string[]);
      return {
        path,
        at: 'value',
        message: `must be ${types.map((t) => TYPE_NAMES[t] ?? t).join(' or ')}, not ${typeOf(error.data)}`,
        ...(path === ''
          ? { fix: 'a manifest is a mapping with apiVersion, kind, task, and aws and/or http' }
          : expected),
      };
    }
    case 'const':
      return {
        path,
        at: 'value',
        message: `must be ${show(params['allowedValue'])}, not ${show(error.data)}`,
      };
    case 'enum':
      return {
        path,
        at: 'value',
        message: `must be one of ${(params['allowedValues'] as unknown[]).map(show).join(', ')}, not ${show(error.data)}`,
      };
    case 'oneOf':
    case 'anyOf': {
      const rule = ALTERNATIVES.find((a) => a.path.test(path));
      return rule
        ? { path, at: 'value', message: rule.message, fix: rule.fix }
        : { path, at: 'value', message: 'does not match any accepted form', ...expected };
    }
    case 'minItems':
      return {
        path,
        at: 'value',
        message: `must list at least ${show(params['limit'])} item(s)`,
        ...expected,
      };
    case 'maxItems':
      return { path, at: 'value', message: `must list at most ${show(params['limit'])} items`, ...expected };
    case 'uniqueItems':
      return {
        path,
        at: 'value',
        message: `items ${Math.min(Number(params['i']), Number(params['j']))} and ${Math.max(Number(params['i']), Number(params['j']))} are the same`,
        fix: 'remove the duplicate',
      };
    case 'maxLength':
      return {
        path,
        at: 'value',
        message: `is longer than ${show(params['limit'])} characters`,
        ...expected,
      };
    default:
      // pattern, minLength, minimum, maximum: the value is not in the accepted form.
      return { path, at: 'value', message: `${show(error.data)} is not valid here`, ...expected };
  }
}
