/**
 * The local runtime as a developer runs it (`npm start`, here `tsx bin/local.ts` in its own
 * process group): it comes up on the configured ports, serves the local-only routes, stops cleanly
 * on Ctrl-C, keeps DynamoDB data across a `kill -9` of the whole tree, and says in one line what to
 * install when Java is missing.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GetItemCommand, PutItemCommand } from '@aws-sdk/client-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isPortFree } from '../../lib/local/ports.js';
import { localDynamoDbClient } from '../../lib/local/provision.js';
import { PROJECT_ROOT } from '../../lib/local/runtime.js';
import { type SpawnedRuntime, spawnLocalRuntime, tsxCommand } from '../support/local-runtime.js';

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

async function json(response: Response): Promise<Record<string, unknown>> {
  return (await response.json()) as Record<string, unknown>;
}

describe('a running local runtime', () => {
  let runtime: SpawnedRuntime;

  beforeAll(async () => {
    runtime = await spawnLocalRuntime({ fresh: true });
    console.info(`local runtime ready in ${runtime.readyMs} ms`);
  });

  afterAll(async () => {
    await runtime?.stop();
  });

  it('prints one line per endpoint and becomes ready well within 20 s', () => {
    const output = runtime.output();

    expect(runtime.readyMs).toBeLessThan(20_000);
    expect(output).toContain(`API             ${runtime.apiUrl}`);
    expect(output).toContain(`simulators      ${runtime.simUrl}`);
    expect(output).toContain(`DynamoDB Local  ${runtime.dynamodbUrl}`);
    expect(output).toContain(`SQS emulator    ${runtime.sqsUrl}`);
    expect(output).toContain(`data            ${runtime.dataDir}`);
    expect(output).toMatch(/ready in \d+\.\d s/);
  });

  it('serves the simulator shell and answers unknown routes in the contract shape', async () => {
    const sim = await fetch(`${runtime.simUrl}/health`);
    const unknown = await fetch(`${runtime.apiUrl}/v1/does-not-exist`);

    expect(sim.status).toBe(200);
    expect(await json(sim)).toMatchObject({ status: 'ok' });
    expect(unknown.status).toBe(404);
    expect(await json(unknown)).toMatchObject({ error: { code: 'not_found' } });
  });

  it('lists, arms and clears failpoints; an unknown name is 400', async () => {
    // Act
    const listed = await fetch(`${runtime.apiUrl}/_local/failpoints`);
    const unknown = await fetch(`${runtime.apiUrl}/_local/failpoints`, {
      method: 'PUT',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ 'no.such.failpoint': { probability: 1 } }),
    });
    const cleared = await fetch(`${runtime.apiUrl}/_local/failpoints`, { method: 'DELETE' });

    // Assess
    expect(listed.status).toBe(200);
    const { failpoints } = (await listed.json()) as {
      failpoints: Array<{ name: string; where: string; armed: unknown; fired: number }>;
    };
    expect(Array.isArray(failpoints)).toBe(true);
    for (const point of failpoints) {
      expect(point).toMatchObject({
        name: expect.any(String),
        where: expect.any(String),
        armed: null,
      });
    }
    expect(unknown.status).toBe(400);
    expect(await json(unknown)).toMatchObject({
      error: { code: 'invalid_request', message: expect.stringContaining('no.such.failpoint') },
    });
    expect(cleared.status).toBe(200);

    // A declared point can be armed and shows as armed.
    const [first] = failpoints;
    if (first) {
      const armed = await fetch(`${runtime.apiUrl}/_local/failpoints`, {
        method: 'PUT',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ [first.name]: { probability: 0.5 } }),
      });
      expect(armed.status).toBe(200);
      const after = (await armed.json()) as { failpoints: Array<{ name: string; armed: unknown }> };
      expect(after.failpoints.find((p) => p.name === first.name)?.armed).toEqual({
        probability: 0.5,
      });
      await fetch(`${runtime.apiUrl}/_local/failpoints`, { method: 'DELETE' });
    }
  });

  it('moves the clock forward without sleeping', async () => {
    const before = await json(await fetch(`${runtime.apiUrl}/_local/clock`));

    const advanced = await fetch(`${runtime.apiUrl}/_local/clock/advance`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ seconds: 3600 }),
    });

    expect(advanced.status).toBe(200);
    const after = await json(advanced);
    expect(Number(after.offsetSeconds) - Number(before.offsetSeconds)).toBe(3600);
    const jumped = Date.parse(String(after.now)) - Date.parse(String(before.now));
    expect(jumped).toBeGreaterThanOrEqual(3600_000);
    expect(jumped).toBeLessThan(3600_000 + 60_000);
  });

  it('reports every manifest queue and its dead-letter queue, empty', async () => {
    const { queues } = (await json(await fetch(`${runtime.apiUrl}/_local/queues`))) as {
      queues: Array<{ queue: string; url: string; visible: number; deadLetter: { url: string } }>;
    };

    expect(queues.map((q) => q.queue).sort()).toEqual([
      'eventDeliveries',
      'fanout',
      'jobs',
      'replies',
      'sends',
    ]);
    for (const queue of queues) {
      expect(queue.url).toBe(`${runtime.sqsUrl}/000000000000/onceflow-${queue.queue}.fifo`);
      expect(queue.deadLetter.url).toBe(
        `${runtime.sqsUrl}/000000000000/onceflow-${queue.queue}-dlq.fifo`,
      );
      expect(queue.visible).toBe(0);
    }
  });
});

describe('stopping and restarting', () => {
  it('exits 0 on SIGINT within a few seconds and frees every port', async () => {
    // Prepare
    const runtime = await spawnLocalRuntime();

    // Act: Ctrl-C in a terminal signals the whole foreground process group.
    const started = Date.now();
    const { code } = await runtime.kill('SIGINT');
    const stoppedMs = Date.now() - started;

    // Assess
    expect(code).toBe(0);
    expect(stoppedMs).toBeLessThan(5000);
    expect(runtime.output()).toContain('SIGINT: stopping');
    for (const port of Object.values(runtime.ports)) {
      expect(await isPortFree(port)).toBe(true);
    }
    await runtime.stop();
  });

  it('exits 0 on SIGTERM to the process alone (not its group) and leaves nothing behind', async () => {
    // Prepare
    const runtime = await spawnLocalRuntime();

    // Act: `kill <pid>` reaches tsx only; it relays the signal to the runtime.
    process.kill(runtime.pid, 'SIGTERM');
    const { code } = await runtime.exited;

    // Assess
    expect(code).toBe(0);
    for (const port of Object.values(runtime.ports)) {
      expect(await isPortFree(port)).toBe(true);
    }
    await runtime.stop();
  });

  it('keeps DynamoDB data when the whole process tree is killed with SIGKILL', async () => {
    // Prepare
    const dataDir = mkdtempSync(join(tmpdir(), 'onceflow-e2e-kill-'));
    const item = { pk: { S: 'e2e#kill-9' }, sk: { S: 'survivor' }, note: { S: `${Date.now()}` } };
    try {
      const first = await spawnLocalRuntime({ dataDir });
      const writer = localDynamoDbClient(first.dynamodbUrl);
      await writer.send(new PutItemCommand({ TableName: 'onceflow-tenants', Item: item }));
      writer.destroy();

      // Act
      const killed = await first.kill('SIGKILL');
      const second = await spawnLocalRuntime({ dataDir });
      const reader = localDynamoDbClient(second.dynamodbUrl);
      const { Item } = await reader.send(
        new GetItemCommand({
          TableName: 'onceflow-tenants',
          Key: { pk: item.pk, sk: item.sk },
          ConsistentRead: true,
        }),
      );
      reader.destroy();
      await second.stop();

      // Assess
      expect(killed.signal).toBe('SIGKILL');
      expect(Item).toEqual(item);
    } finally {
      rmSync(dataDir, { recursive: true, force: true });
    }
  });

  it('a runtime killed alone leaves its JVM; the next start stops it and keeps the data', async () => {
    // Prepare
    const dataDir = mkdtempSync(join(tmpdir(), 'onceflow-e2e-orphan-'));
    const item = { pk: { S: 'e2e#orphan' }, sk: { S: 'kept' } };
    try {
      const first = await spawnLocalRuntime({ dataDir });
      const writer = localDynamoDbClient(first.dynamodbUrl);
      await writer.send(new PutItemCommand({ TableName: 'onceflow-tenants', Item: item }));
      writer.destroy();
      const javaPid = Number(readFileSync(join(dataDir, 'dynamodb', 'dynamodb-local.pid'), 'utf8'));
      const runtimePid = Number(
        readFileSync(`/proc/${first.pid}/task/${first.pid}/children`, 'utf8').trim().split(' ')[0],
      );

      // Act: kill -9 the node process running bin/local.ts, nothing else.
      process.kill(runtimePid, 'SIGKILL');
      await first.exited;
      const orphanAlive = isAlive(javaPid);
      const second = await spawnLocalRuntime({ dataDir });
      const reader = localDynamoDbClient(second.dynamodbUrl);
      const { Item } = await reader.send(
        new GetItemCommand({ TableName: 'onceflow-tenants', Key: item, ConsistentRead: true }),
      );
      reader.destroy();
      await second.stop();

      // Assess
      expect(orphanAlive).toBe(true);
      expect(isAlive(javaPid)).toBe(false);
      expect(second.output()).toContain('stopped a DynamoDB Local left running');
      expect(Item).toEqual(item);
    } finally {
      rmSync(dataDir, { recursive: true, force: true });
    }
  });

  it('--fresh starts from empty data', async () => {
    // Prepare
    const dataDir = mkdtempSync(join(tmpdir(), 'onceflow-e2e-fresh-'));
    const key = { pk: { S: 'e2e#fresh' }, sk: { S: 'gone' } };
    try {
      const first = await spawnLocalRuntime({ dataDir });
      const writer = localDynamoDbClient(first.dynamodbUrl);
      await writer.send(new PutItemCommand({ TableName: 'onceflow-tenants', Item: key }));
      writer.destroy();
      await first.stop();

      // Act
      const second = await spawnLocalRuntime({ dataDir, fresh: true });
      const reader = localDynamoDbClient(second.dynamodbUrl);
      const { Item } = await reader.send(
        new GetItemCommand({ TableName: 'onceflow-tenants', Key: key, ConsistentRead: true }),
      );
      reader.destroy();
      await second.stop();

      // Assess
      expect(Item).toBeUndefined();
    } finally {
      rmSync(dataDir, { recursive: true, force: true });
    }
  });
});

describe('without Java', () => {
  it('prints one line saying what to install and exits 1', async () => {
    // Prepare: a PATH with no java on it (node itself is started by absolute path).
    const emptyBin = mkdtempSync(join(tmpdir(), 'onceflow-no-java-'));
    const { command, args } = tsxCommand('bin/local.ts');

    // Act
    const result = await new Promise<{ code: number | null; stdout: string; stderr: string }>(
      (resolve) => {
        const child = spawn(command, args, {
          cwd: PROJECT_ROOT,
          env: {
            ...process.env,
            PATH: emptyBin,
            ONCEFLOW_DATA_DIR: emptyBin,
            PORT: '0',
            SIM_PORT: '0',
            DYNAMODB_PORT: '0',
            SQS_PORT: '0',
          },
          stdio: ['ignore', 'pipe', 'pipe'],
        });
        let stdout = '';
        let stderr = '';
        child.stdout.on('data', (chunk: Buffer) => {
          stdout += chunk.toString();
        });
        child.stderr.on('data', (chunk: Buffer) => {
          stderr += chunk.toString();
        });
        child.on('exit', (code) => resolve({ code, stdout, stderr }));
      },
    );
    rmSync(emptyBin, { recursive: true, force: true });

    // Assess
    expect(result.code).toBe(1);
    const lines = `${result.stdout}${result.stderr}`.trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toContain('install Java 17 (e.g. apt-get install -y default-jre-headless)');
    expect(lines[0]).not.toMatch(/\bat .+:\d+:\d+/);
  });
});
