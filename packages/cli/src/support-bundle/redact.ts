/**
 * The support bundle's redaction: one table of named rules, run over every text before it is
 * written anywhere. A rule replaces what it finds with `[REDACTED:<rule>]` and counts it; the
 * bundle's manifest lists the counts per rule, never what was found.
 */

/** Words that make a name (an environment variable, a JSON or YAML key) look like it holds a secret. */
const SECRET_WORDS =
  'password|passwd|passphrase|pwd|secret|token|key|credential|private|auth|cookie|session|signature|salt';
/** A name holding one of {@link SECRET_WORDS}, e.g. `TENANTRY_MASTER_KEY`, `bootstrapToken`, `db.password`. */
const SECRET_NAME = new RegExp(`(?:${SECRET_WORDS})`, 'i');

/** Whether a name (of a variable, field or key) looks like it holds a secret. */
export function isSecretName(name: string): boolean {
  return SECRET_NAME.test(name);
}

/** One kind of secret: what finds it, and what stands in for it. */
export interface RedactionRule {
  readonly name: string;
  /** Global (`g`). */
  readonly pattern: RegExp;
  /** Whether capture group 1 is context that stays (a key, a scheme, a user name) rather than part of the secret. */
  readonly keep?: true;
  /** Whether the stand-in is quoted, so that a JSON value stays JSON. */
  readonly quoted?: true;
  /** What the rule covers, for docs and `--preview`. */
  readonly covers: string;
}

const NAME_CHARS = '[A-Za-z0-9_.-]*';
const NAME = `${NAME_CHARS}(?:${SECRET_WORDS})${NAME_CHARS}`;

/**
 * Applied in order: multi-line and structural rules first (a PEM block, a connection string's
 * credentials, a secret-named key's whole value), then the token formats that can turn up
 * anywhere, in a log line or a value under an innocent name. A value that an earlier rule already
 * redacted, whole or in part, is left as it is (the `[REDACTED:` look-aheads), so that each secret
 * is counted once.
 */
export const REDACTION_RULES: readonly RedactionRule[] = [
  {
    name: 'pem_private_key',
    // Raw, or with its line breaks escaped as in a JSON log line; an unterminated block to the end of the text.
    pattern:
      /-----BEGIN ((?:[A-Z0-9]+ )*)PRIVATE KEY-----[\s\S]*?(?:-----END \1PRIVATE KEY-----|$(?![\s\S]))/g,
    covers: 'PEM private keys (RSA, EC, OpenSSH, PKCS #8, encrypted), over as many lines as they take',
  },
  {
    name: 'connection_string_password',
    keep: true,
    // scheme://user:password@host → scheme://user:***@host
    pattern: /\b([a-z][a-z0-9+.-]*:\/\/[^:/?#@\s"']+:)(?!\[REDACTED:)[^@\s"'/]+(?=@)/gi,
    covers: 'the password in a URL or connection string (postgres://user:password@host)',
  },
  {
    name: 'authorization_header',
    keep: true,
    pattern:
      /\b((?:proxy-)?authorization["']?\s*[:=]\s*["']?(?:bearer|basic|token|digest)?\s*)(?!\[REDACTED:)[^\s"',;]+/gi,
    covers: 'Authorization headers (Bearer, Basic, Token, Digest)',
  },
  {
    name: 'bearer_token',
    keep: true,
    pattern: /\b(bearer\s+)(?!\[REDACTED:)[A-Za-z0-9._~+/=-]{8,}/gi,
    covers: 'a bearer token anywhere (Bearer …)',
  },
  {
    name: 'aws_secret_access_key',
    keep: true,
    pattern: /(aws_secret_access_key["']?\s*[:=]\s*["']?)(?!\[REDACTED:)[A-Za-z0-9/+=]{40}/gi,
    covers: 'AWS secret access keys, next to aws_secret_access_key',
  },
  {
    name: 'secret_env_value',
    keep: true,
    // NAME=value, in an env file, a shell line or a log; the value to the end of the line.
    pattern: new RegExp(`^(\\s*(?:export\\s+)?${NAME}\\s*=\\s*)(?!\\s*$)(?!.*\\[REDACTED:).+$`, 'gim'),
    covers: 'the value of an environment variable whose name looks secret (…PASSWORD=, …_KEY=, …TOKEN=)',
  },
  {
    name: 'secret_json_value',
    keep: true,
    quoted: true,
    // "name": "value" or "name": 123; a null or a boolean says nothing, so it stays.
    pattern: new RegExp(
      `("${NAME}"\\s*:\\s*)(?!null\\b|true\\b|false\\b|"[^"]*\\[REDACTED:)(?:"(?:[^"\\\\]|\\\\.)*"|[^,}\\]\\s]+)`,
      'gi',
    ),
    covers: 'the value of a JSON field whose key looks secret',
  },
  {
    name: 'secret_yaml_value',
    keep: true,
    // name: value (not a nested mapping, not a block scalar's header: the PEM rule takes those).
    pattern: new RegExp(
      `^(\\s*(?:-\\s+)?["']?${NAME}["']?\\s*:[ \\t]+)(?![|>][-+]?\\s*$)(?!\\s*$)(?!.*\\[REDACTED:)\\S.*$`,
      'gim',
    ),
    covers: 'the value of a YAML key that looks secret',
  },
  {
    name: 'secret_parameter',
    keep: true,
    // key=value in a query string or a logfmt line: ?token=…, password=… (not at a line start: the env rule has those).
    pattern: new RegExp(`([?&;,\\s]${NAME}=)(?!\\[REDACTED:)[^&\\s"',;]+`, 'gi'),
    covers: 'a secret-named parameter in a query string or a logfmt line (?token=…, password=…)',
  },
  {
    name: 'tenantry_api_key',
    pattern: /\btnt_(?:sk|rk|op)_[A-Za-z0-9_-]{16,}/g,
    covers: 'Tenantry API keys and bootstrap tokens (tnt_sk_…, tnt_rk_…, tnt_op_…)',
  },
  {
    name: 'tenantry_agent_secret',
    pattern: /\bagt(?:enr|cred)_[A-Za-z0-9_-]{16,}/g,
    covers: "agents' enrolment tokens and credentials (agtenr_…, agtcred_…)",
  },
  {
    name: 'webhook_secret',
    pattern: /\bwhsec_[A-Za-z0-9+/=_-]{10,}/g,
    covers: "webhook signing secrets, Tenantry's and Stripe's (whsec_…)",
  },
  {
    name: 'stripe_key',
    pattern: /\b(?:sk|rk)_(?:live|test)_[A-Za-z0-9]{10,}/g,
    covers: 'Stripe secret and restricted keys (sk_live_…, sk_test_…, rk_…)',
  },
  {
    name: 'aws_access_key_id',
    pattern: /\b(?:AKIA|ASIA)[A-Z0-9]{16}\b/g,
    covers: 'AWS access key ids (AKIA…, ASIA…)',
  },
  {
    name: 'github_token',
    pattern: /\b(?:gh[pousr]_[A-Za-z0-9]{30,}|github_pat_[A-Za-z0-9_]{22,})/g,
    covers: 'GitHub tokens (ghp_, gho_, ghu_, ghs_, ghr_, github_pat_)',
  },
  {
    name: 'slack_token',
    pattern: /\bxox[abprs]-[A-Za-z0-9-]{10,}/g,
    covers: 'Slack tokens (xoxb-, xoxa-, xoxp-, xoxr-, xoxs-)',
  },
  {
    name: 'google_api_key',
    pattern: /\bAIza[0-9A-Za-z_-]{35}/g,
    covers: 'Google API keys (AIza…)',
  },
  {
    name: 'jwt',
    pattern: /\beyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*/g,
    covers: 'JSON Web Tokens and other compact JWS (eyJ….….…), licenses included',
  },
];

/** What a redactor found, per rule: counts only. */
export type RedactionCounts = Record<string, number>;

/**
 * Redacts texts with {@link REDACTION_RULES}, the operator's extra patterns, and the literal values
 * of secrets it was told of (the secret-named environment variables Tenantry reads), wherever they
 * turn up: a master key or binding key has no recognisable format, but its value is known.
 */
export class Redactor {
  readonly #rules: readonly RedactionRule[];
  readonly #known: readonly string[];
  readonly counts: RedactionCounts = {};

  constructor(options: { extra?: readonly RedactionRule[]; knownSecrets?: readonly string[] } = {}) {
    this.#rules = [...REDACTION_RULES, ...(options.extra ?? [])];
    // Longest first, so that a secret containing another is replaced whole; short values would
    // replace innocent text everywhere, and are caught by their names instead.
    this.#known = [...new Set(options.knownSecrets ?? [])]
      .filter((value) => value.length >= 8)
      .sort((a, b) => b.length - a.length);
  }

  /** `text` with every secret found replaced; counts what it replaced. */
  text(text: string): string {
    let result = text;
    for (const rule of this.#rules) {
      result = result.replace(rule.pattern, (...args: unknown[]) => {
        this.#count(rule.name, 1);
        const kept = rule.keep && typeof args[1] === 'string' ? args[1] : '';
        const standIn = `[REDACTED:${rule.name}]`;
        return kept + (rule.quoted ? `"${standIn}"` : standIn);
      });
    }
    // Last, what the rules did not recognise: a known value under an innocent name or in free text.
    for (const secret of this.#known) {
      const parts = result.split(secret);
      if (parts.length > 1) {
        this.#count('known_secret_value', parts.length - 1);
        result = parts.join('[REDACTED:known_secret_value]');
      }
    }
    return result;
  }

  /**
   * A JSON-ready value with every field whose name looks secret replaced (objects and arrays
   * walked), then every string run through {@link text}.
   */
  value(value: unknown): unknown {
    if (typeof value === 'string') return this.text(value);
    if (Array.isArray(value)) return value.map((item) => this.value(item));
    if (value instanceof Uint8Array) return `[${value.length} bytes]`;
    if (typeof value === 'object' && value !== null) {
      const out: Record<string, unknown> = {};
      for (const [name, item] of Object.entries(value)) {
        if (isSecretName(name) && item !== null && item !== undefined && typeof item !== 'boolean') {
          this.#count('secret_field', 1);
          out[name] = '[REDACTED:secret_field]';
        } else {
          out[name] = this.value(item);
        }
      }
      return out;
    }
    return value;
  }

  #count(rule: string, n: number): void {
    this.counts[rule] = (this.counts[rule] ?? 0) + n;
  }
}

/**
 * The operator's `--redact-extra` patterns as rules named `extra_1`, `extra_2`…: the manifest
 * names them by number, since a pattern may itself spell a secret. Refuses one that is not a
 * regular expression, or that matches the empty string (it would redact between every character).
 */
export function extraRules(
  patterns: readonly string[],
): { ok: true; rules: RedactionRule[] } | { ok: false; error: string } {
  const rules: RedactionRule[] = [];
  for (const [index, source] of patterns.entries()) {
    let pattern: RegExp;
    try {
      pattern = new RegExp(source, 'g');
    } catch (error) {
      return {
        ok: false,
        error: `--redact-extra "${source}" is not a valid regular expression: ${error instanceof Error ? error.message : String(error)}`,
      };
    }
    if (new RegExp(source).test(''))
      return {
        ok: false,
        error: `--redact-extra "${source}" matches the empty string; give a pattern that matches the secret`,
      };
    rules.push({ name: `extra_${index + 1}`, pattern, covers: 'a pattern given with --redact-extra' });
  }
  return { ok: true, rules };
}
