/**
 * cdk-nag's AwsSolutions pack finds nothing unsuppressed, and every suppression is scoped to one
 * resource (IAM5 wildcards to the exact `appliesTo` finding). Checked for the project manifest and
 * for a manifest with every trigger kind, so the queue and schedule wiring is covered before the
 * project manifest uses them.
 */
import { Aspects, NestedStack, type Stack } from 'aws-cdk-lib';
import { Annotations, Match, Template } from 'aws-cdk-lib/assertions';
import { Topic } from 'aws-cdk-lib/aws-sns';
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

/** The stack and every stack nested in it (the observability one): each is checked on its own. */
function withNested(stack: Stack): Stack[] {
  return [stack, ...stack.node.findAll().filter((c) => NestedStack.isNestedStack(c))] as Stack[];
}

/**
 * Unsuppressed AwsSolutions findings. A nested stack's annotations are its parent's artifact's
 * (aws-cdk-lib `collectStackMetadata` walks into every stack that is not top-level), so the
 * observability nested stack is covered; the test below proves it. With cdk.json's
 * `@aws-cdk/core:annotationsInValidationReport` an error annotation fails the synthesis itself, so
 * a thrown validation report counts as errors.
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
    const suppressions = withNested(stack).flatMap((s) => {
      const json = Template.fromStack(s).toJSON() as {
        Metadata?: Record<string, unknown>;
        Resources: Record<
          string,
          { Metadata?: { cdk_nag?: { rules_to_suppress: Suppression[] } } }
        >;
      };
      expect(json.Metadata?.cdk_nag, `no stack-wide suppression in ${s.node.path}`).toBeUndefined();
      return Object.values(json.Resources).flatMap(
        (r) => r.Metadata?.cdk_nag?.rules_to_suppress ?? [],
      );
    });
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

  it('catches an unsuppressed finding in the observability nested stack', () => {
    // Prepare: a topic with neither TLS enforcement nor encryption, among the alarms.
    const stack = checkedStack(MANIFEST) as OnceflowStack;
    new Topic(stack.observability, 'Unsafe');

    // Act
    const { errors } = awsSolutionsFindings(stack);

    // Assess
    expect(errors.join('\n')).toMatch(/AwsSolutions-SNS3/);
  });
});
