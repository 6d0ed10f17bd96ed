/**
 * cdk-nag's AwsSolutions pack finds nothing unsuppressed, and every suppression is scoped to one
 * resource (IAM5 wildcards to the exact `appliesTo` finding). Checked for the project manifest and
 * for a manifest with every trigger kind, so the queue and schedule wiring is covered before the
 * project manifest uses them.
 */
import { Aspects, type Stack } from 'aws-cdk-lib';
import { Annotations, Match, Template } from 'aws-cdk-lib/assertions';
import { Queue } from 'aws-cdk-lib/aws-sqs';
import { AwsSolutionsChecks } from 'cdk-nag';
import { describe, expect, it } from 'vitest';
import { MANIFEST, type OnceflowManifest, OnceflowStack } from '../../lib/onceflow-stack.js';
import { everyTriggerManifest, testApp } from './synth-support.js';

const AWS_SOLUTIONS = Match.stringLikeRegexp('AwsSolutions-.*');

/** A stack as `bin/onceflow.ts` builds it (cdk.json flags, AwsSolutionsChecks), without bundling. */
function checkedStack(manifest: OnceflowManifest): Stack {
  const app = testApp();
  const stack = new OnceflowStack(app, 'Nag', { manifest });
  Aspects.of(app).add(new AwsSolutionsChecks({ verbose: true }));
  return stack;
}

/**
 * Unsuppressed AwsSolutions findings. With cdk.json's `@aws-cdk/core:annotationsInValidationReport`
 * an error annotation fails the synthesis itself, so a thrown validation report counts as errors.
 */
function awsSolutionsFindings(stack: Stack): { errors: string[]; warnings: string[] } {
  let annotations: Annotations;
  try {
    annotations = Annotations.fromStack(stack);
  } catch (error) {
    return { errors: [String(error)], warnings: [] };
  }
  const text = (messages: Array<{ entry: { data?: unknown } }>) =>
    messages.map((m) => String(m.entry.data));
  return {
    errors: text(annotations.findError('*', AWS_SOLUTIONS)),
    warnings: text(annotations.findWarning('*', AWS_SOLUTIONS)),
  };
}

interface Suppression {
  readonly id: string;
  readonly reason: string;
  readonly applies_to?: unknown[];
}

describe.each([
  { label: 'project manifest', manifest: MANIFEST },
  { label: 'every trigger kind', manifest: everyTriggerManifest() },
])('AwsSolutions checks on the $label', ({ manifest }) => {
  // Prepare
  const stack = checkedStack(manifest);
  const findings = awsSolutionsFindings(stack);

  it('reports no unsuppressed AwsSolutions error', () => {
    expect(findings.errors).toEqual([]);
  });

  it('reports no unsuppressed AwsSolutions warning', () => {
    expect(findings.warnings).toEqual([]);
  });

  it('scopes every suppression to a resource, and IAM5 to its exact findings', () => {
    const json = Template.fromStack(stack).toJSON() as {
      Metadata?: Record<string, unknown>;
      Resources: Record<string, { Metadata?: { cdk_nag?: { rules_to_suppress: Suppression[] } } }>;
    };
    expect(json.Metadata?.cdk_nag, 'no stack-wide suppression').toBeUndefined();
    const suppressions = Object.values(json.Resources).flatMap(
      (r) => r.Metadata?.cdk_nag?.rules_to_suppress ?? [],
    );
    expect(suppressions.length).toBeGreaterThan(0);
    for (const suppression of suppressions) {
      expect(suppression.reason.length, suppression.id).toBeGreaterThan(30);
      if (suppression.id === 'AwsSolutions-IAM5') {
        expect(suppression.applies_to, suppression.reason).toHaveLength(1);
      }
    }
  });
});

describe('the AwsSolutions check in these tests', () => {
  it('catches an unsuppressed finding', () => {
    // Prepare: a queue with neither a DLQ nor TLS enforcement.
    const stack = checkedStack(MANIFEST);
    new Queue(stack, 'Unsafe');

    // Act
    const { errors } = awsSolutionsFindings(stack);

    // Assess
    expect(errors.join('\n')).toMatch(/AwsSolutions-SQS3/);
    expect(errors.join('\n')).toMatch(/AwsSolutions-SQS4/);
  });
});
