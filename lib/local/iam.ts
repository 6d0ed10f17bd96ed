/**
 * IAM's answer to "may this function do this action on this resource?", for the statements of a
 * function's role as the stack synthesizes them (`lib/local/deployment.ts` reads them from the
 * template). The rules are IAM's own for identity policies without conditions: a request is allowed
 * when an `Allow` statement matches both its action and its resource and no `Deny` statement does;
 * actions match case-insensitively, resources case-sensitively, `*` and `?` are wildcards in both.
 * https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_evaluation-logic.html
 * https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_resource.html
 *
 * Anything this evaluator would have to guess at (conditions, `NotAction`, `NotResource`) is refused
 * when the statements are read, so it never allows or denies what AWS would decide otherwise.
 */

export interface PolicyStatement {
  readonly effect: 'Allow' | 'Deny';
  readonly actions: readonly string[];
  readonly resources: readonly string[];
}

/** One thing a request needs: IAM checks each separately (a transaction needs one per item). */
export interface Permission {
  readonly action: string;
  readonly resource: string;
}

export class UnsupportedPolicyError extends Error {
  override name = 'UnsupportedPolicyError';
}

/**
 * A template statement, its `Resource` already resolved to strings, as a {@link PolicyStatement}.
 * `where` names the policy in errors.
 */
export function readStatement(
  raw: Readonly<Record<string, unknown>>,
  where: string,
): PolicyStatement {
  const unsupported = ['Condition', 'NotAction', 'NotResource', 'Principal', 'NotPrincipal'].filter(
    (key) => key in raw,
  );
  if (unsupported.length > 0) {
    throw new UnsupportedPolicyError(
      `${where}: the local runtime cannot evaluate ${unsupported.join(', ')} in a policy statement`,
    );
  }
  const effect = raw.Effect;
  if (effect !== 'Allow' && effect !== 'Deny') {
    throw new UnsupportedPolicyError(
      `${where}: Effect must be Allow or Deny, got ${String(effect)}`,
    );
  }
  return { effect, actions: strings(raw.Action, where), resources: strings(raw.Resource, where) };
}

function strings(value: unknown, where: string): string[] {
  const list = Array.isArray(value) ? value : [value];
  if (!list.every((item): item is string => typeof item === 'string')) {
    throw new UnsupportedPolicyError(`${where}: expected strings, got ${JSON.stringify(value)}`);
  }
  return list;
}

const compiled = new Map<string, RegExp>();

/** IAM's wildcard match: `*` any run of characters, `?` any one character. */
export function wildcardMatch(pattern: string, value: string, ignoreCase = false): boolean {
  // Every AWS call of every function is checked: each pattern is compiled once.
  const key = `${ignoreCase ? 'i' : 's'}${pattern}`;
  let regex = compiled.get(key);
  if (!regex) {
    const escaped = pattern
      .replace(/[.+^${}()|[\]\\]/g, '\\$&')
      .replace(/\*/g, '.*')
      .replace(/\?/g, '.');
    regex = new RegExp(`^${escaped}$`, ignoreCase ? 'is' : 's');
    compiled.set(key, regex);
  }
  return regex.test(value);
}

function statementMatches(statement: PolicyStatement, permission: Permission): boolean {
  return (
    statement.actions.some((action) => wildcardMatch(action, permission.action, true)) &&
    statement.resources.some((resource) => wildcardMatch(resource, permission.resource))
  );
}

/** Whether the statements allow `permission` (an explicit deny wins over any allow). */
export function isAllowed(statements: readonly PolicyStatement[], permission: Permission): boolean {
  let allowed = false;
  for (const statement of statements) {
    if (!statementMatches(statement, permission)) continue;
    if (statement.effect === 'Deny') return false;
    allowed = true;
  }
  return allowed;
}

/** The first permission the statements do not allow, if any. */
export function firstDenied(
  statements: readonly PolicyStatement[],
  permissions: readonly Permission[],
): Permission | undefined {
  return permissions.find((permission) => !isAllowed(statements, permission));
}
