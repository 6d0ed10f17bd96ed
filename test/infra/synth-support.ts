/**
 * What the infra tests share: the app as `cdk synth` builds it (cdk.json's feature flags) without
 * bundling, and a probe manifest with one function of every trigger kind over the real tables and
 * queues, so trigger wiring and its nag findings are checked whatever the project manifest holds.
 */
import { readFileSync } from 'node:fs';
import { App } from 'aws-cdk-lib';
import type { QueueName, SecretName, TableName } from '../../lib/manifest.js';
import { MANIFEST, type OnceflowManifest, SECRET_DESCRIPTIONS } from '../../lib/onceflow-stack.js';

export const CDK_CONTEXT = JSON.parse(
  readFileSync(new URL('../../cdk.json', import.meta.url), 'utf8'),
).context as Record<string, unknown>;

/** The context `cdk synth` uses (cdk.json's feature flags), without bundling. */
export function testApp(bundle = false): App {
  return new App({
    context: { ...CDK_CONTEXT, ...(bundle ? {} : { 'aws:cdk:bundling-stacks': [] }) },
  });
}

export const TABLE_NAMES = Object.keys(MANIFEST.tables) as TableName[];
export const QUEUE_NAMES = Object.keys(MANIFEST.queues) as QueueName[];
export const SECRET_NAMES = Object.keys(SECRET_DESCRIPTIONS) as SecretName[];

/**
 * One function of every trigger kind over the real tables and queues, so the queue and schedule
 * wiring is proven before the project manifest has such functions. Entries do not exist on
 * purpose: with bundling skipped that must still synthesize.
 */
export function everyTriggerManifest(): OnceflowManifest {
  const [firstTable, secondTable, thirdTable] = TABLE_NAMES;
  const [firstQueue, secondQueue] = QUEUE_NAMES;
  const [firstSecret] = SECRET_NAMES;
  if (!firstTable || !secondTable || !thirdTable || !firstQueue || !secondQueue || !firstSecret) {
    throw new Error('the probe manifest needs three tables, two queues and a secret');
  }
  // The longest timeout the queue's visibility timeout allows (6x rule, see the stack).
  const consumerTimeout = Math.floor(MANIFEST.queues[firstQueue].visibilityTimeoutSeconds / 6);
  return {
    tables: MANIFEST.tables,
    queues: MANIFEST.queues,
    functions: {
      probeHttp: {
        entry: 'functions/__probe__/http.ts',
        description: 'probe: http',
        trigger: {
          kind: 'http',
          routes: [
            { method: 'GET', path: '/probe/{probeId}' },
            { method: 'POST', path: '/probe/{probeId}/things' },
          ],
        },
        tables: { [firstTable]: 'read', [secondTable]: 'readWrite' },
        sendsTo: [firstQueue],
        secrets: [firstSecret],
      },
      probeConsumer: {
        entry: 'functions/__probe__/consumer.ts',
        description: 'probe: queue consumer',
        trigger: { kind: 'queue', queue: firstQueue, batchSize: 7, recordSeconds: 5 },
        tables: { [thirdTable]: 'readWrite' },
        sendsTo: [secondQueue],
        timeoutSeconds: consumerTimeout,
        memoryMb: 1024,
      },
      probeSchedule: {
        entry: 'functions/__probe__/schedule.ts',
        description: 'probe: schedule',
        trigger: { kind: 'schedule', everySeconds: 90 },
        tables: { [secondTable]: 'read' },
      },
      probeStream: {
        entry: 'functions/__probe__/stream.ts',
        description: 'probe: stream',
        trigger: { kind: 'stream', tables: STREAMED_TABLES, batchSize: 50, retryAttempts: 2 },
        tables: {},
      },
    },
  };
}

/** The tables whose change feed is on (the effects' tables). */
export const STREAMED_TABLES = TABLE_NAMES.filter((name) => MANIFEST.tables[name].stream);
