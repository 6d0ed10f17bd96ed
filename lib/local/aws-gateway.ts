/**
 * Where the functions' AWS SDK clients send every call in the local runtime, and where IAM says no.
 * Each function signs its calls with credentials of its own (`AWS_ACCESS_KEY_ID` names the
 * function, as a role session names it on AWS); the gateway reads that identity from the SigV4
 * `Authorization` header, works out which actions on which resources the call needs — the same
 * ones IAM checks: one per table of a batch, one per item of a transaction, `<table>/index/<name>`
 * for an index — and evaluates them against the statements of that function's role as the stack
 * synthesizes them (`deployment.ts`, `iam.ts`). An allowed call goes on, byte for byte, to
 * DynamoDB Local or the SQS emulator; a Secrets Manager call is answered here with the secret's
 * local value. A refused call gets AWS's own answer, which the SDK turns into the error a deployed
 * function would see:
 *
 * - DynamoDB: HTTP 400 `com.amazon.coral.service#AccessDeniedException`, so the SDK throws an error
 *   named `AccessDeniedException` (DynamoDB's common errors:
 *   https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/CommonErrors.html).
 * - SQS (JSON protocol): HTTP 400 `AccessDeniedException` with the query-compatibility header
 *   `x-amzn-query-error: AccessDenied;Sender`, from which the SDK (`awsQueryCompatible`, see
 *   `@aws-sdk/core` `setQueryCompatError`) names the error `AccessDenied`, as with the old query
 *   protocol (https://docs.aws.amazon.com/AWSSimpleQueueService/latest/APIReference/CommonErrors.html).
 * - Secrets Manager: HTTP 400 `AccessDeniedException`
 *   (https://docs.aws.amazon.com/secretsmanager/latest/apireference/CommonErrors.html).
 *
 * The message is IAM's: "User: <role session ARN> is not authorized to perform: <action> on
 * resource: <ARN> because no identity-based policy allows the <action> action".
 *
 * Why at the wire and not a client middleware: a bundle carries its own copy of the SDK (and
 * Powertools Parameters makes its own Secrets Manager client), which nothing outside the bundle
 * can reach; every one of them honours `AWS_ENDPOINT_URL_<SERVICE>` and signs with the
 * environment's credentials. So one check covers both ways a function runs, every client it may
 * create, and answers exactly as AWS does on the wire.
 */
import { randomUUID } from 'node:crypto';
import {
  Agent,
  createServer,
  type IncomingMessage,
  request,
  type Server,
  type ServerResponse,
} from 'node:http';
import { readBody } from './http-util.js';
import { firstDenied, type Permission, type PolicyStatement } from './iam.js';
import { LOCAL_ACCOUNT_ID, LOCAL_REGION, localQueueArn } from './resources.js';

/** A function as the gateway knows it: who it is and what its role allows. */
export interface GatewayPrincipal {
  /** The manifest's name; also the access key id its environment signs with. */
  readonly name: string;
  /** The role session ARN IAM names in a refusal. */
  readonly arn: string;
  readonly statements: readonly PolicyStatement[];
}

/** A secret the local Secrets Manager holds. */
export interface GatewaySecret {
  readonly name: string;
  readonly arn: string;
  /** Read at every call, so the value follows the runtime's environment. */
  value(): string;
}

export interface AwsGatewayOptions {
  readonly dynamodbEndpoint: string;
  readonly sqsEndpoint: string;
  readonly principals: readonly GatewayPrincipal[];
  readonly secrets: readonly GatewaySecret[];
  readonly log: (line: string) => void;
}

/** The access key id a function's environment carries; the gateway knows the function by it. */
export function accessKeyIdFor(functionName: string): string {
  return `LOCAL${functionName}`;
}

/** The role session a function's calls are made as, named the way IAM names it in a refusal. */
export function principalArn(functionName: string): string {
  return `arn:aws:sts::${LOCAL_ACCOUNT_ID}:assumed-role/onceflow-${functionName}-role/onceflow-${functionName}`;
}

/** The access key id of a SigV4 `Authorization` header (`Credential=<id>/<date>/<region>/...`). */
export function signingAccessKeyId(authorization: string | undefined): string | undefined {
  return /Credential=([^/,\s]+)\//.exec(authorization ?? '')?.[1];
}

/** `dynamodbstreams`: DynamoDB Streams, which DynamoDB Local serves on its own endpoint. */
export type Service = 'dynamodb' | 'dynamodbstreams' | 'sqs' | 'secretsmanager';

interface JsonCall {
  readonly service: Service;
  readonly operation: string;
  readonly input: Record<string, unknown>;
}

/** The service and operation of a JSON-protocol call (`X-Amz-Target: <prefix>.<Operation>`). */
export function jsonCall(target: string | undefined, body: Buffer): JsonCall | undefined {
  const match = /^(DynamoDB_\d+|DynamoDBStreams_\d+|AmazonSQS|secretsmanager)\.(\w+)$/.exec(
    target ?? '',
  );
  if (!match) return undefined;
  const [, prefix = '', operation = ''] = match;
  const service: Service = prefix.startsWith('DynamoDBStreams')
    ? 'dynamodbstreams'
    : prefix.startsWith('DynamoDB')
      ? 'dynamodb'
      : prefix === 'AmazonSQS'
        ? 'sqs'
        : 'secretsmanager';
  const input =
    body.length > 0 ? (JSON.parse(body.toString('utf8')) as Record<string, unknown>) : {};
  return { service, operation, input };
}

function tableArn(table: unknown): string {
  const name = String(table);
  if (name.startsWith('arn:')) return name;
  return `arn:aws:dynamodb:${LOCAL_REGION}:${LOCAL_ACCOUNT_ID}:table/${name}`;
}

/** What `TransactWriteItems` needs for each kind of item (IAM checks each item's own action). */
const TRANSACT_WRITE_ACTIONS: Readonly<Record<string, string>> = {
  Put: 'dynamodb:PutItem',
  Update: 'dynamodb:UpdateItem',
  Delete: 'dynamodb:DeleteItem',
  ConditionCheck: 'dynamodb:ConditionCheckItem',
};

/**
 * The permissions a DynamoDB call needs. Batches need the batch action on each table they touch;
 * transactions need each item's own action on its table
 * (https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/transaction-apis-iam.html);
 * a query or scan of an index needs its action on `<table>/index/<name>`.
 */
export function dynamodbPermissions(
  operation: string,
  input: Record<string, unknown>,
): Permission[] {
  const action = `dynamodb:${operation}`;
  switch (operation) {
    case 'BatchGetItem':
    case 'BatchWriteItem':
      return Object.keys((input.RequestItems as object | undefined) ?? {}).map((table) => ({
        action,
        resource: tableArn(table),
      }));
    case 'TransactWriteItems':
      return (
        (input.TransactItems as Array<Record<string, { TableName?: unknown }>>) ?? []
      ).flatMap((item) =>
        Object.entries(item).map(([kind, detail]) => ({
          action: TRANSACT_WRITE_ACTIONS[kind] ?? `dynamodb:${kind}`,
          resource: tableArn(detail?.TableName),
        })),
      );
    case 'TransactGetItems':
      return ((input.TransactItems as Array<{ Get?: { TableName?: unknown } }>) ?? []).map(
        (item) => ({
          action: 'dynamodb:GetItem',
          resource: tableArn(item.Get?.TableName),
        }),
      );
    case 'Query':
    case 'Scan':
      return [
        {
          action,
          resource:
            input.IndexName === undefined
              ? tableArn(input.TableName)
              : `${tableArn(input.TableName)}/index/${String(input.IndexName)}`,
        },
      ];
    default:
      return [
        { action, resource: input.TableName === undefined ? '*' : tableArn(input.TableName) },
      ];
  }
}

/**
 * The permission a DynamoDB Streams call needs (its actions are `dynamodb:*` in IAM): `ListStreams`
 * on `*` (it takes no resource), `DescribeStream` and `GetShardIterator` on the stream ARN they
 * name, `GetRecords` on the stream its iterator reads. An iterator is opaque on AWS; DynamoDB Local's
 * begin with the stream ARN and `|` (`<streamArn>|001|<base64>`), which is how the gateway knows it.
 */
export function streamsPermissions(
  operation: string,
  input: Record<string, unknown>,
): Permission[] {
  const action = `dynamodb:${operation}`;
  switch (operation) {
    case 'ListStreams':
      return [{ action, resource: '*' }];
    case 'GetRecords': {
      const iterator = typeof input.ShardIterator === 'string' ? input.ShardIterator : '';
      return [{ action, resource: iterator.split('|')[0] || '*' }];
    }
    default:
      return [{ action, resource: typeof input.StreamArn === 'string' ? input.StreamArn : '*' }];
  }
}

/** Batch operations of SQS are authorized as their single form (SQS API permissions reference). */
const SQS_BATCH_ACTIONS: Readonly<Record<string, string>> = {
  SendMessageBatch: 'sqs:SendMessage',
  DeleteMessageBatch: 'sqs:DeleteMessage',
  ChangeMessageVisibilityBatch: 'sqs:ChangeMessageVisibility',
};

/** The permission an SQS call needs: its action on the queue its `QueueUrl` (or `QueueName`) names. */
export function sqsPermissions(operation: string, input: Record<string, unknown>): Permission[] {
  const action = SQS_BATCH_ACTIONS[operation] ?? `sqs:${operation}`;
  const name =
    typeof input.QueueUrl === 'string'
      ? input.QueueUrl.replace(/\/+$/, '').split('/').pop()
      : typeof input.QueueName === 'string'
        ? input.QueueName
        : undefined;
  return [{ action, resource: name ? localQueueArn(name) : '*' }];
}

/** One call a function made, as the gateway saw it (for benches that count what work costs). */
export interface AwsCall {
  readonly functionName: string;
  readonly service: Service;
  readonly operation: string;
  readonly input: Readonly<Record<string, unknown>>;
  /** The HTTP status of the answer (400 for a refusal or a failed condition). */
  readonly status: number;
  /** The answer's JSON body, when it has one. */
  readonly output?: Readonly<Record<string, unknown>>;
}

export interface AwsCallObserver {
  /**
   * Asks DynamoDB to report the capacity every call consumes (`INDEXES`: each index's too), as a
   * bench's SDK middleware would set `ReturnConsumedCapacity`.
   */
  readonly consumedCapacity?: 'TOTAL' | 'INDEXES';
  observe(call: AwsCall): void;
}

export interface AwsGateway {
  readonly server: Server;
  /** Reports every call from now on to `observer`; returns the unsubscribe. */
  observe(observer: AwsCallObserver): () => void;
  /** Stops forwarding (the caller closes `server`). */
  close(): void;
}

export function createAwsGateway(options: AwsGatewayOptions): AwsGateway {
  const principals = new Map(options.principals.map((p) => [accessKeyIdFor(p.name), p]));
  const agent = new Agent({ keepAlive: true, maxSockets: 64 });
  const observers = new Set<AwsCallObserver>();
  const upstream: Record<'dynamodb' | 'dynamodbstreams' | 'sqs', URL> = {
    dynamodb: new URL(options.dynamodbEndpoint),
    dynamodbstreams: new URL(options.dynamodbEndpoint),
    sqs: new URL(options.sqsEndpoint),
  };

  function permissionsOf(call: JsonCall): Permission[] {
    switch (call.service) {
      case 'dynamodb':
        return dynamodbPermissions(call.operation, call.input);
      case 'dynamodbstreams':
        return streamsPermissions(call.operation, call.input);
      case 'sqs':
        return sqsPermissions(call.operation, call.input);
      case 'secretsmanager':
        return [
          {
            action: `secretsmanager:${call.operation}`,
            resource: secretOf(call.input.SecretId)?.arn ?? String(call.input.SecretId ?? '*'),
          },
        ];
    }
  }

  function secretOf(id: unknown): GatewaySecret | undefined {
    return options.secrets.find((s) => s.arn === id || s.name === id);
  }

  async function serve(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const body = await readBody(req, 16 * 1024 * 1024);
    const target = header(req, 'x-amz-target');
    let call: JsonCall | undefined;
    try {
      call = jsonCall(target, body);
    } catch {
      call = undefined;
    }
    if (!call) {
      sendAwsError(
        res,
        'dynamodb',
        400,
        'UnknownOperationException',
        `unknown operation ${target}`,
      );
      return;
    }
    const principal = principals.get(signingAccessKeyId(header(req, 'authorization')) ?? '');
    if (!principal) {
      sendAwsError(
        res,
        call.service,
        400,
        'UnrecognizedClientException',
        'The security token included in the request is invalid.',
      );
      return;
    }
    const denied = firstDenied(principal.statements, permissionsOf(call));
    if (denied) {
      options.log(
        `[iam] ${principal.name}: ${call.service}:${call.operation} refused (${denied.action} on ${denied.resource})`,
      );
      sendAwsError(
        res,
        call.service,
        400,
        'AccessDeniedException',
        `User: ${principal.arn} is not authorized to perform: ${denied.action} on resource: ${denied.resource} because no identity-based policy allows the ${denied.action} action`,
      );
      notify({ functionName: principal.name, ...call, status: 400 });
      return;
    }
    if (call.service === 'secretsmanager') {
      answerSecret(res, call);
      return;
    }
    if (observers.size === 0) {
      forward(req, res, upstreamBody(call, body), upstream[call.service]);
      return;
    }
    const observed = withConsumedCapacity(call);
    forward(req, res, upstreamBody(observed, body), upstream[call.service], (status, output) =>
      notify({ functionName: principal.name, ...call, status, ...(output ? { output } : {}) }),
    );
  }

  function notify(call: AwsCall): void {
    for (const observer of observers) observer.observe(call);
  }

  /** The call with `ReturnConsumedCapacity` set, when an observer asks for it (DynamoDB only). */
  function withConsumedCapacity(call: JsonCall): JsonCall {
    const wanted = [...observers].map((o) => o.consumedCapacity).filter(Boolean);
    if (call.service !== 'dynamodb' || wanted.length === 0) return call;
    const level = wanted.includes('INDEXES') ? 'INDEXES' : 'TOTAL';
    return { ...call, input: { ...call.input, ReturnConsumedCapacity: level } };
  }

  /**
   * The body to send on: a function's queue URLs are on the gateway's origin (`localNames` in
   * `runtime.ts`) and the SQS emulator knows a queue by the URL on its own; an observer's
   * `ReturnConsumedCapacity` is added to a DynamoDB call.
   */
  function upstreamBody(call: JsonCall, body: Buffer): Buffer {
    const changed = (input: Record<string, unknown>) => Buffer.from(JSON.stringify(input));
    if (call.service === 'dynamodb') {
      return call.input.ReturnConsumedCapacity === undefined ? body : changed(call.input);
    }
    if (call.service !== 'sqs' || typeof call.input.QueueUrl !== 'string') return body;
    const url = new URL(call.input.QueueUrl);
    if (url.origin === upstream.sqs.origin) return body;
    return changed({ ...call.input, QueueUrl: `${upstream.sqs.origin}${url.pathname}` });
  }

  function answerSecret(res: ServerResponse, call: JsonCall): void {
    const secret = secretOf(call.input.SecretId);
    if (!secret) {
      sendAwsError(
        res,
        'secretsmanager',
        400,
        'ResourceNotFoundException',
        "Secrets Manager can't find the specified secret.",
      );
      return;
    }
    const created = Math.floor(Date.now() / 1000);
    switch (call.operation) {
      case 'GetSecretValue':
        sendJson(res, 'secretsmanager', 200, {
          ARN: secret.arn,
          Name: secret.name,
          VersionId: 'local-version',
          SecretString: secret.value(),
          VersionStages: ['AWSCURRENT'],
          CreatedDate: created,
        });
        return;
      case 'DescribeSecret':
        sendJson(res, 'secretsmanager', 200, {
          ARN: secret.arn,
          Name: secret.name,
          CreatedDate: created,
        });
        return;
      default:
        sendAwsError(
          res,
          'secretsmanager',
          400,
          'InvalidRequestException',
          `the local Secrets Manager answers GetSecretValue and DescribeSecret, not ${call.operation}`,
        );
    }
  }

  function forward(
    req: IncomingMessage,
    res: ServerResponse,
    body: Buffer,
    to: URL,
    answered?: (status: number, output: Record<string, unknown> | undefined) => void,
  ): void {
    const headers = { ...req.headers, host: to.host, 'content-length': String(body.length) };
    delete headers['accept-encoding'];
    const outgoing = request(
      { host: to.hostname, port: to.port, path: req.url, method: req.method, headers, agent },
      (answer) => {
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        if (!answered) {
          answer.pipe(res);
          return;
        }
        const chunks: Buffer[] = [];
        answer.on('data', (chunk: Buffer) => {
          chunks.push(chunk);
          res.write(chunk);
        });
        answer.on('end', () => {
          res.end();
          answered(answer.statusCode ?? 502, parseJson(Buffer.concat(chunks)));
        });
      },
    );
    outgoing.on('error', (error) => {
      options.log(`[iam] forwarding to ${to.origin} failed: ${error.message}`);
      if (!res.headersSent) sendAwsError(res, 'dynamodb', 503, 'ServiceUnavailable', error.message);
      else res.destroy();
    });
    outgoing.end(body);
  }

  const server = createServer((req, res) => {
    serve(req, res).catch((error: unknown) => {
      options.log(`[iam] ${req.method} ${req.url} failed: ${String(error)}`);
      if (!res.headersSent) sendAwsError(res, 'dynamodb', 500, 'InternalFailure', String(error));
      else res.destroy();
    });
  });
  return {
    server,
    observe(observer) {
      observers.add(observer);
      return () => observers.delete(observer);
    },
    close() {
      agent.destroy();
    },
  };
}

function parseJson(body: Buffer): Record<string, unknown> | undefined {
  try {
    return JSON.parse(body.toString('utf8')) as Record<string, unknown>;
  } catch {
    return undefined;
  }
}

function header(req: IncomingMessage, name: string): string | undefined {
  const value = req.headers[name];
  return Array.isArray(value) ? value[0] : value;
}

/** DynamoDB and SQS speak awsJson1_0; Secrets Manager awsJson1_1. */
function contentType(service: Service): string {
  return service === 'secretsmanager' ? 'application/x-amz-json-1.1' : 'application/x-amz-json-1.0';
}

function sendJson(res: ServerResponse, service: Service, status: number, body: unknown): void {
  const payload = Buffer.from(JSON.stringify(body));
  res.writeHead(status, {
    'content-type': contentType(service),
    'content-length': String(payload.length),
    'x-amzn-requestid': randomUUID(),
  });
  res.end(payload);
}

/** An error as each service writes it on the wire (see the header comment). */
function sendAwsError(
  res: ServerResponse,
  service: Service,
  status: number,
  code: string,
  message: string,
): void {
  const headers: Record<string, string> = {
    'content-type': contentType(service),
    'x-amzn-requestid': randomUUID(),
  };
  let body: Record<string, string>;
  if (service === 'sqs') {
    // SQS's query-compatible code for the error, which the SDK prefers to `__type`.
    const queryCode = code === 'AccessDeniedException' ? 'AccessDenied' : code;
    headers['x-amzn-query-error'] = `${queryCode};Sender`;
    body = { __type: `com.amazon.coral.service#${code}`, message };
  } else if (service === 'dynamodb' || service === 'dynamodbstreams') {
    body = { __type: `com.amazon.coral.service#${code}`, Message: message };
  } else {
    body = { __type: code, Message: message };
  }
  const payload = Buffer.from(JSON.stringify(body));
  headers['content-length'] = String(payload.length);
  res.writeHead(status, headers);
  res.end(payload);
}
