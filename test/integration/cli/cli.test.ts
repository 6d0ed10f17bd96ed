/**
 * `npx onceflow` against the emulators, run as a user runs it (a child process, `--json`):
 *
 * - import conversations: the dry run plans persons by the live identity rules (JID, national
 *   number and `@lid` of one person are one person), refuses bad rows with reasons and writes
 *   nothing; `--execute` writes through the live store code; a second `--execute` writes nothing.
 * - conversations audit: nothing to merge after the import; a person left with two conversations
 *   (an alias conversation whose link to the phone came later) is found, merged once, then clean.
 * - dlq list|replay: lists without moving; replay is a dry run until `--execute`, then moves every
 *   dead letter back into its queue.
 * - inspect webhook: the stored message by provider id, body withheld.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import {
  DeleteMessageCommand,
  ReceiveMessageCommand,
  SendMessageCommand,
} from '@aws-sdk/client-sqs';
import { PutCommand } from '@aws-sdk/lib-dynamodb';
import { describe, expect, inject, it } from 'vitest';
import { keys } from '../../../functions/conversations/index.js';
import { storeMessage } from '../../../functions/conversations/store-message.js';
import { ddb, sqs } from '../../../functions/kernel/clients.js';
import { systemClock } from '../../../functions/kernel/clock.js';
import { queueUrl, tableName } from '../../../functions/kernel/config.js';
import { ensureFifoQueue, localSqsClient } from '../../../lib/local/provision.js';
import { localQueue } from '../../../lib/local/resources.js';
import { PROJECT_ROOT } from '../../../lib/local/runtime.js';
import { startSqsEmulator } from '../../../lib/local/sqs-emulator.js';
import { functions as manifestFunctions, queues } from '../../../lib/manifest.js';
import { freePorts } from '../../support/free-port.js';
import { tsxCommand } from '../../support/local-runtime.js';
import { createTenant, tenantConversations } from '../conversations/inbound-support.js';
import { cli, cliWith } from './cli-support.js';

const _run = promisify(execFile);
const _endpoints = inject('onceflowEndpoints');
const _port = (url: string) => new URL(url).port;

function legacyFile(tenantId: string): string {
  const msg = (id: string, direction: 'in' | 'out' = 'in') => ({
    providerMessageId: id,
    direction,
    channel: 'whatsapp',
    body: `legacy ${id}`,
    createdAt: '2026-01-02T03:04:05Z',
  });
  const lines = [
    // One person under three identifiers, spread over three legacy conversations.
    {
      tenantId,
      legacyId: 'L1',
      identifiers: ['972501112233@s.whatsapp.net', '82399031480511@lid'],
      name: 'Dana',
      messages: [msg(`wamid.${tenantId}-1`), msg(`wamid.${tenantId}-2`, 'out')],
    },
    {
      tenantId,
      legacyId: 'L2',
      identifiers: ['050-111-2233'],
      messages: [msg(`wamid.${tenantId}-3`)],
    },
    {
      tenantId,
      legacyId: 'L3',
      identifiers: ['82399031480511@lid'],
      messages: [msg(`wamid.${tenantId}-4`)],
    },
    // Another person, as a device JID.
    {
      tenantId,
      legacyId: 'L4',
      identifiers: ['972509998877:12@s.whatsapp.net'],
      messages: [msg(`wamid.${tenantId}-5`)],
    },
  ].map((l) => JSON.stringify(l));
  lines.push('{not json');
  lines.push(
    JSON.stringify({
      tenantId,
      legacyId: 'G1',
      identifiers: ['120363040000000000@g.us'],
      messages: [],
    }),
  );
  lines.push(JSON.stringify({ tenantId, legacyId: '', identifiers: ['0501112233'], messages: [] }));
  const file = join(mkdtempSync(join(tmpdir(), 'onceflow-import-')), 'inbox.jsonl');
  writeFileSync(file, `${lines.join('\n')}\n`);
  return file;
}

describe('onceflow import conversations', () => {
  it("a lead the legacy system named owns its person's conversation, as PUT /v1/leads makes it", async () => {
    // Prepare: one legacy conversation whose CRM lead is known.
    const tenant = await createTenant('IL');
    const line = {
      tenantId: tenant.tenantId,
      legacyId: 'CRM1',
      leadId: 'crm-7',
      name: 'Noa',
      identifiers: ['050-765-4321'],
      messages: [
        {
          providerMessageId: `wamid.${tenant.tenantId}-lead`,
          direction: 'in',
          channel: 'whatsapp',
          body: 'hello',
          createdAt: '2026-01-01T10:00:00.000Z',
        },
      ],
    };
    const file = join(mkdtempSync(join(tmpdir(), 'onceflow-import-')), 'inbox.jsonl');
    writeFileSync(file, `${JSON.stringify(line)}\n`);

    // Act: imported twice
    const first = await cli('import', 'conversations', file, '--execute');
    const second = await cli('import', 'conversations', file, '--execute');

    // Assess: one conversation, the lead's, with the lead's name
    expect([first.code, second.code]).toEqual([0, 0]);
    const conversations = await tenantConversations(tenant.tenantId);
    expect(conversations).toHaveLength(1);
    expect(conversations[0]).toMatchObject({ leadId: 'crm-7', leadName: 'Noa' });
  });

  it('plans persons in a dry run, writes on --execute, and writes nothing the second time', async () => {
    // Prepare
    const tenant = await createTenant('IL');
    const file = legacyFile(tenant.tenantId);

    // Act: dry run
    const dry = await cli('import', 'conversations', file);

    // Assert: 4 legacy conversations → 2 persons, 5 messages; 3 rows refused with reasons; nothing written
    expect(dry.code).toBe(0);
    expect(dry.json).toMatchObject({
      execute: false,
      legacyConversations: 4,
      persons: 2,
      messages: 5,
    });
    expect(dry.json.refused.map((r: { line: number }) => r.line).sort()).toEqual([5, 6, 7]);
    expect(dry.json.refused.find((r: { line: number }) => r.line === 6).reason).toMatch(
      /no identifier names a person/,
    );
    expect(dry.json.refused.find((r: { line: number }) => r.line === 7).reason).toMatch(/legacyId/);
    const dana = dry.json.personsDetail.find((p: { legacyIds: string[] }) =>
      p.legacyIds.includes('L1'),
    );
    expect(dana).toMatchObject({ person: '+972501112233', messages: 4 });
    expect([...dana.legacyIds].sort()).toEqual(['L1', 'L2', 'L3']);
    expect(await tenantConversations(tenant.tenantId)).toEqual([]);

    // Act: execute, then execute again
    const first = await cli('import', 'conversations', file, '--execute');
    const second = await cli('import', 'conversations', file, '--execute');

    // Assert: one conversation per person; the second run writes nothing new
    expect(first.json.result).toEqual({
      written: 5,
      alreadyThere: 0,
      withJobs: 0,
      conversations: 2,
    });
    expect(second.json.result).toEqual({
      written: 0,
      alreadyThere: 5,
      withJobs: 0,
      conversations: 2,
    });
    const conversations = await tenantConversations(tenant.tenantId);
    expect(conversations).toHaveLength(2);
    expect(conversations.map((c) => Number(c.messageCount)).sort()).toEqual([1, 4]);

    // And the audit finds nothing to merge afterwards
    const audit = await cli('conversations', 'audit');
    expect(
      audit.json.merges.filter((m: { tenantId: string }) => m.tenantId === tenant.tenantId),
    ).toEqual([]);

    // inspect webhook by provider id: the stored record, without the message body
    const inspected = await cli(
      'inspect',
      'webhook',
      `wamid.${tenant.tenantId}-1`,
      '--tenant',
      tenant.tenantId,
    );
    expect(inspected.code).toBe(0);
    expect(inspected.json.body).toMatch(/^\[\d+ chars\]$/);
    expect(inspected.json.tenantId).toBe(tenant.tenantId);
    const missing = await cli('inspect', 'webhook', 'wamid.nothing', '--tenant', tenant.tenantId);
    expect(missing.code).toBe(1);
  });
});

describe('onceflow import conversations, as text', () => {
  it('prints a summary with counts said right, not a line per person', async () => {
    const tenant = await createTenant('IL');
    const file = join(mkdtempSync(join(tmpdir(), 'onceflow-import-')), 'one.jsonl');
    writeFileSync(
      file,
      `${JSON.stringify({
        tenantId: tenant.tenantId,
        legacyId: 'one',
        identifiers: ['0501112233'],
        messages: [
          {
            providerMessageId: 'wamid.one',
            direction: 'in',
            channel: 'whatsapp',
            body: 'hi',
            createdAt: '2026-01-02T03:04:05Z',
          },
        ],
      })}\n`,
    );
    const { command, args } = tsxCommand('bin/cli.ts');
    const endpoints = inject('onceflowEndpoints');
    const out = await _run(command, [...args, 'import', 'conversations', file], {
      cwd: PROJECT_ROOT,
      env: {
        ...process.env,
        DYNAMODB_PORT: _port(endpoints.dynamodb),
        SQS_PORT: _port(endpoints.sqs),
      },
    });
    const lines = out.stdout.trim().split('\n');
    expect(lines).toContain('1 legacy conversation → 1 person, 1 message');
    expect(lines).toContain('0 rows refused');
    expect(out.stdout).not.toMatch(/\*\*\*33/);
  });
});

describe('onceflow finds its runtime', () => {
  const dataDirWith = (ports: { dynamodb: number; sqs: number }) => {
    const dir = mkdtempSync(join(tmpdir(), 'onceflow-data-'));
    writeFileSync(
      join(dir, 'runtime.json'),
      JSON.stringify({ pid: process.pid, startedAt: '', ports: { api: 1, sim: 2, ...ports } }),
    );
    return dir;
  };

  it("reads the running runtime's ports from its data directory", async () => {
    const endpoints = inject('onceflowEndpoints');
    const dir = dataDirWith({
      dynamodb: Number(_port(endpoints.dynamodb)),
      sqs: Number(_port(endpoints.sqs)),
    });
    const answer = await cliWith(
      { DYNAMODB_PORT: '', SQS_PORT: '', ONCEFLOW_DATA_DIR: dir },
      'inspect',
      'webhook',
      'm_nothing',
    );
    // Reached DynamoDB and found nothing (exit 1 with the "no stored" line), not a connection error.
    expect(answer.stderr.trim()).toBe('no stored webhook message m_nothing');
  });

  it('says in one line that `npm start` is not running, with the ports it tried', async () => {
    const [dynamodb = 0, sqs = 0] = await freePorts(2);
    const dir = dataDirWith({ dynamodb, sqs });
    const answer = await cliWith(
      { DYNAMODB_PORT: '', SQS_PORT: '', ONCEFLOW_DATA_DIR: dir },
      'dlq',
      'list',
      'jobs',
    );
    expect(answer.code).toBe(1);
    const lines = answer.stderr.trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toContain('is `npm start` running?');
    expect(lines[0]).toContain(`DynamoDB ${dynamodb}, SQS ${sqs}`);
    expect(lines[0]).toContain(join(dir, 'runtime.json'));
  });

  it('says in one line what --stack is missing without AWS credentials', async () => {
    const home = mkdtempSync(join(tmpdir(), 'onceflow-home-'));
    const answer = await cliWith(
      {
        HOME: home,
        AWS_CONFIG_FILE: join(home, 'none'),
        AWS_SHARED_CREDENTIALS_FILE: join(home, 'none'),
        AWS_EC2_METADATA_DISABLED: 'true',
        AWS_ACCESS_KEY_ID: '',
        AWS_SECRET_ACCESS_KEY: '',
        AWS_SESSION_TOKEN: '',
        AWS_PROFILE: '',
        AWS_REGION: '',
        AWS_DEFAULT_REGION: '',
        AWS_CONTAINER_CREDENTIALS_FULL_URI: '',
        AWS_CONTAINER_CREDENTIALS_RELATIVE_URI: '',
        AWS_WEB_IDENTITY_TOKEN_FILE: '',
      },
      '--stack',
      'onceflow-prod',
      'dlq',
      'list',
      'jobs',
    );
    expect(answer.code).toBe(1);
    const lines = answer.stderr.trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toBe(
      'onceflow: --stack onceflow-prod needs a region (set AWS_REGION, or a profile with a region) and AWS credentials (set AWS_PROFILE, or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY)',
    );
  });

  it('help shows each default once, in words', async () => {
    const { command, args } = tsxCommand('bin/cli.ts');
    const out = await _run(command, [...args, 'import', 'conversations', '--help'], {
      cwd: PROJECT_ROOT,
    });
    expect(out.stdout).toContain('write (default: dry run)');
    expect(out.stdout).not.toContain('(default: false)');
  });
});

describe('onceflow conversations audit', () => {
  it('finds a person with two conversations, merges them on --execute, then finds nothing', async () => {
    // Prepare: an alias-only conversation, a phone conversation, and later a link between them.
    const tenant = await createTenant('IL');
    const deps = {
      ddb,
      sqs,
      clock: systemClock,
      table: tableName('inbound'),
      jobsQueueUrl: queueUrl('jobs'),
    };
    const message = (dedupeKey: string, person: { e164?: string; aliases: string[] }) => ({
      tenantId: tenant.tenantId,
      channel: 'whatsapp' as const,
      direction: 'in' as const,
      dedupeKey,
      body: 'hi',
      createdAt: new Date().toISOString(),
      person,
    });
    await storeMessage(deps, message(`wamid:${tenant.tenantId}-a`, { aliases: ['lid:777'] }));
    await storeMessage(
      deps,
      message(`wamid:${tenant.tenantId}-p`, { e164: '+972501230000', aliases: [] }),
    );
    await ddb.send(
      new PutCommand({
        TableName: tableName('inbound'),
        Item: {
          ...keys.link(tenant.tenantId, 'lid:777'),
          tenantId: tenant.tenantId,
          alias: 'lid:777',
          e164: '+972501230000',
        },
      }),
    );
    const mine = (json: { merges: Array<{ tenantId: string; from: string[] }> }) =>
      json.merges.filter((m: { tenantId: string }) => m.tenantId === tenant.tenantId);

    // Act + Assert: dry run finds it and changes nothing
    const dry = await cli('conversations', 'audit');
    expect(mine(dry.json)).toHaveLength(1);
    expect(mine(dry.json)[0]).toMatchObject({ person: '+972501230000' });
    expect(mine(dry.json)[0]?.from).toHaveLength(1);
    expect(await tenantConversations(tenant.tenantId)).toHaveLength(2);

    // --execute merges; the next audit is clean
    const executed = await cli('conversations', 'audit', '--execute');
    expect(executed.code).toBe(0);
    expect(
      (await cli('conversations', 'audit')).json.merges.filter(
        (m: { tenantId: string }) => m.tenantId === tenant.tenantId,
      ),
    ).toEqual([]);
    const live = await tenantConversations(tenant.tenantId);
    expect(live).toHaveLength(1);
    expect(Number(live[0]?.messageCount)).toBe(2);
  });
});

describe('onceflow dlq', () => {
  it('lists dead letters, replays nothing without --execute, and moves them all back with it', async () => {
    // Prepare: an SQS emulator of this test's own, so no other test file's consumer or dead
    // letters meet ours, with the manifest's fanout queue and its DLQ.
    const [sqsPort] = await freePorts(1);
    const emulator = await startSqsEmulator({ port: sqsPort as number });
    const endpoint = `http://127.0.0.1:${sqsPort}`;
    const client = localSqsClient(endpoint);
    const dlqCli = (...args: string[]) => cliWith({ SQS_PORT: String(sqsPort) }, ...args);
    try {
      const fanout = localQueue('fanout', endpoint);
      await ensureFifoQueue(client, fanout, queues.fanout);
      const bodies = ['{"dead":1}', '{"dead":2}', '{"dead":3}', '{"dead":4}'];
      // Three message groups; the fourth message queues behind the first in its group.
      for (const [i, body] of bodies.entries()) {
        await client.send(
          new SendMessageCommand({
            QueueUrl: fanout.dlqUrl,
            MessageBody: body,
            MessageGroupId: `g${i % 3}`,
            MessageDeduplicationId: `dead-${i}`,
          }),
        );
      }

      // Act + Assert: the listing shows (at least) every group's head and moves nothing
      const listed = await dlqCli('dlq', 'list', 'fanout');
      const shown = listed.json.messages.map((m: { body: string }) => m.body);
      expect(shown).toEqual(expect.arrayContaining(bodies.slice(0, 3)));
      const dry = await dlqCli('dlq', 'replay', 'fanout');
      expect(dry.json.replayed).toBe(0);
      expect(dry.json.waiting).toBeGreaterThanOrEqual(3);
      expect((await dlqCli('dlq', 'list', 'fanout')).json.messages.length).toBe(shown.length);
      const replayed = await dlqCli('dlq', 'replay', 'fanout', '--execute');
      expect(replayed.json.replayed).toBe(4);
      expect((await dlqCli('dlq', 'list', 'fanout')).json.messages).toHaveLength(0);
      const back: string[] = [];
      for (let round = 0; round < 8 && back.length < 4; round++) {
        const out = await client.send(
          new ReceiveMessageCommand({
            QueueUrl: fanout.url,
            MaxNumberOfMessages: 10,
            WaitTimeSeconds: 1,
          }),
        );
        for (const m of out.Messages ?? []) {
          back.push(m.Body ?? '');
          await client.send(
            new DeleteMessageCommand({ QueueUrl: fanout.url, ReceiptHandle: m.ReceiptHandle }),
          );
        }
      }
      expect(back.sort()).toEqual(bodies);
    } finally {
      client.destroy();
      await emulator.stop();
    }
  });

  it('refuses a queue that does not exist', async () => {
    const out = await cli('dlq', 'list', 'nope');
    expect(out.code).not.toBe(0);
    expect(out.stderr).toMatch(/one of: jobs, sends, fanout/);
  });
});

describe('onceflow reconcile', () => {
  it("recounts campaigns (read only); a dry run of the ledger's reconciliation names its function and entry", async () => {
    const counters = await cli('reconcile', 'counters');
    expect(counters.code).toBe(0);
    expect(Array.isArray(counters.json.campaigns)).toBe(true);
    const conversions = await cli('reconcile', 'conversions');
    expect(conversions.code).toBe(0);
    expect(conversions.json).toEqual({
      function: 'reconcileConversions',
      entry: manifestFunctions.reconcileConversions.entry,
    });
  });
});
