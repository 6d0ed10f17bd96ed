/**
 * The models cannot drift from the code silently: for each modelled pipeline whose failpoints are
 * in the registry (filled by importing every handler of the manifest), the set of `@failpoint`
 * tags on the model's steps must equal the set of failpoint names the code declares under the
 * pipeline's prefix. A pipeline not in the registry yet (its code not merged) is reported, and its
 * model's tags are checked for shape only. A model may leave a failpoint out on purpose by naming it
 * in an `@not-modelled <name> (why)` line, which docs/model.md lists.
 */
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';
import { listFailpoints } from '../../functions/kernel/failpoints.js';
import {
  envNameForQueue,
  envNameForTable,
  functions,
  type QueueName,
  queues,
  type TableName,
  tables,
} from '../../lib/manifest.js';
import {
  failpointTags,
  MODEL_PIPELINES,
  type ModelName,
  notModelled,
  ofModel,
} from '../../models/checks.js';

// Handlers resolve their table and queue names at import; the names are never used here.
for (const table of Object.keys(tables) as TableName[]) {
  process.env[envNameForTable(table)] ??= `model-test-${table}`;
}
for (const queue of Object.keys(queues) as QueueName[]) {
  process.env[envNameForQueue(queue)] ??= `https://sqs.invalid/model-test-${queue}`;
}
for (const spec of Object.values(functions)) {
  await import(pathToFileURL(resolve(spec.entry)).href);
}
const declared = listFailpoints().map((point) => point.name);
const models = Object.keys(MODEL_PIPELINES) as ModelName[];

describe('model steps and failpoints', () => {
  it.for(models)('%s: every step tag is a well-formed name of its pipeline', (model) => {
    const tags = failpointTags(model);
    expect(tags.length).toBeGreaterThan(0);
    for (const tag of [...tags, ...notModelled(model)]) {
      expect(ofModel(model, tag), tag).toBe(true);
    }
    // A name is either a step or declared left out, never both.
    expect(tags.filter((tag) => notModelled(model).includes(tag))).toEqual([]);
  });

  const present = models.filter((model) => declared.some((name) => ofModel(model, name)));

  it('the campaign pipeline is in the registry (the other pipelines are checked once merged)', () => {
    expect(present).toContain('campaign-sender');
    expect(present).toContain('inbound-conversations');
  });

  it.for(present)('%s: the model names exactly the failpoints the code declares', (model) => {
    const inCode = declared.filter((name) => ofModel(model, name)).sort();
    expect([...failpointTags(model), ...notModelled(model)].sort()).toEqual(inCode);
  });
});
