/**
 * CloudFormation refuses a stack of more than 500 resources (a hard quota, not raisable:
 * https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/cloudformation-limits.html),
 * and nested-stack parameters are capped at 200 per stack (same page). The service stack once
 * grew to 541 and nothing caught it before `cdk synth`; this budget fails at test time, with the
 * count, while there is still room to plan the next split: 450 leaves 50 resources, about five
 * functions' worth (role, policy, function, log group, alarm, permission, mapping ≈ 7-9 each).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { CfnResource, NestedStack, Stack } from 'aws-cdk-lib';
import type { CloudAssembly } from 'aws-cdk-lib/cx-api';
import { describe, expect, it } from 'vitest';
import { OnceflowStack } from '../../lib/onceflow-stack.js';
import { testApp } from './synth-support.js';

const RESOURCE_BUDGET = 450;
const PARAMETER_BUDGET = 150;

const app = testApp();
const stack = new OnceflowStack(app, 'Budget');
const stacks: Stack[] = [
  stack,
  ...stack.node.findAll().filter((c): c is NestedStack => NestedStack.isNestedStack(c)),
];

/** Counted from the construct tree, so an over-limit stack reports its size instead of CDK's throw. */
function resourceCount(s: Stack): number {
  return s.node.findAll().filter((c) => CfnResource.isCfnResource(c) && Stack.of(c) === s).length;
}

// Synthesized only for the parameter counts: CDK's own synth refuses a stack over 500 resources,
// so the resource counts above must not depend on it.
let assembly: CloudAssembly | undefined;

function parameterCount(s: Stack): number {
  assembly ??= app.synth();
  // A nested stack's template is written beside its parent's, under its own asset file name.
  const file = join(assembly.directory, s.templateFile);
  const template = JSON.parse(readFileSync(file, 'utf8')) as { Parameters?: object };
  return Object.keys(template.Parameters ?? {}).length;
}

const byPath = stacks.map((s) => [s.node.path, s] as const);

describe('stack size', () => {
  it.each(byPath)(
    `%s stays within ${RESOURCE_BUDGET} resources (CloudFormation's hard limit is 500)`,
    (_, s) => {
      const count = resourceCount(s);
      console.info(`${s.node.path}: ${count} resources`);
      expect(count, `${s.node.path} has ${count} resources`).toBeLessThanOrEqual(RESOURCE_BUDGET);
    },
  );

  it.each(byPath)(
    `%s stays within ${PARAMETER_BUDGET} parameters (CloudFormation's limit is 200)`,
    (_, s) => {
      const count = parameterCount(s);
      console.info(`${s.node.path}: ${count} parameters`);
      expect(count, `${s.node.path} has ${count} parameters`).toBeLessThanOrEqual(PARAMETER_BUDGET);
    },
  );
});
