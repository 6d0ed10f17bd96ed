/**
 * cdk-nag's AwsSolutions pack finds nothing unsuppressed, and every suppression is scoped to one
 * resource (IAM5 wildcards to the exact `appliesTo` finding). Checked for the project manifest and
 * for a manifest with every trigger kind, so the queue and schedule wiring is covered before the
 * project manifest uses them.
 */
import { readFileSync } from 'node:fs';
import { App, Aspects, type Stack } from 'aws-cdk-lib';
import { Annotations, Match, Template } from 'aws-cdk-lib/assertions';
import { Queue } from 'aws-cdk-lib/aws-sqs';
import { AwsSolutionsChecks } from 'cdk-nag';
import { describe, expect, it } from 'vitest';
import type { QueueName, SecretName, TableName } from '../../lib/manifest.js';
import {
  MANIFEST,
  type OnceflowManifest,
  OnceflowStack,
  SECRET_DESCRIPTIONS,
} from '../../lib/onceflow-stack.js';

const CDK_CONTEXT = JSON.parse(readFileSync(new URL('../../cdk.json', import.meta.url), 'utf8'))
  .context as Record<string, unknown>;

const AWS_SOLUTIONS = Match.stringLikeRegexp('AwsSolutions-.*');

/** A stack as `bin/onceflow.ts` builds it (cdk.json flags, AwsSolutionsChecks), without bundling. */
function checkedStack(manifest: OnceflowManifest): Stack {
  const app = new App({ context: { ...CDK_CONTEXT, 'aws:cdk:bundling-stacks': [] } });
  const stack = new OnceflowStack(app, 'Nag', { manifest });
  Aspects.of(app).add(new AwsSolutionsChecks({ verbose: true }));
  return stack;
}

/** One function per trigger kind, touching tables, queues and secrets (entries need not exist). */
function everyTriggerManifest(): OnceflowManifest {
  const [table, indexedTable] = [
    ...(Object.keys(MANIFEST.tables) as TableName[]).sort(
      (a, b) => MANIFEST.tables[a].indexes.length - MANIFEST.tables[b].indexes.length,
    ),
  ].filter((_, i, all) => i === 0 || i === all.length - 1);
  const [queue, otherQueue] = Object.keys(MANIFEST.queues) as QueueName[];
  const [secret] = Object.keys(SECRET_DESCRIPTIONS) as SecretName[];
  if (!table || !indexedTable || !queue || !otherQueue || !secret) {
    throw new Error('the probe manifest needs two tables, two queues and a secret');
  }
  return {
    ...MANIFEST,
    functions: {
      probeHttp: {
        entry: 'functions/__probe__/http.ts',
        description: 'probe: http',
        trigger: { kind: 'http', routes: [{ method: 'POST', path: '/probe' }] },
        tables: { [table]: 'readWrite', [indexedTable]: 'read' },
        sendsTo: [queue],
        secrets: [secret],
      },
      probeConsumer: {
        entry: 'functions/__probe__/consumer.ts',
        description: 'probe: queue consumer',
        trigger: { kind: 'queue', queue, batchSize: 10 },
        tables: { [indexedTable]: 'readWrite' },
        sendsTo: [otherQueue],
      },
      probeSchedule: {
        entry: 'functions/__probe__/schedule.ts',
        description: 'probe: schedule',
        trigger: { kind: 'schedule', everySeconds: 300 },
        tables: { [indexedTable]: 'read' },
      },
    },
  };
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
