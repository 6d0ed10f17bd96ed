/**
 * The kernel's own AWS event schemas (`functions/kernel/aws-events.ts`, zod/mini) against the
 * Powertools Parser schemas they replace (classic zod, used here only as the oracle): both accept
 * the events the local runtime builds and the shapes AWS documents, and both refuse an event whose
 * fields the kernel reads are wrong, with the same issues. The fields nothing reads are not
 * checked: the last test of each pins that difference.
 */
import type { IncomingMessage } from 'node:http';
import { JSONStringified } from '@aws-lambda-powertools/parser/helpers';
import { APIGatewayProxyEventV2Schema } from '@aws-lambda-powertools/parser/schemas/api-gatewayv2';
import { SqsRecordSchema } from '@aws-lambda-powertools/parser/schemas/sqs';
import type { SQSRecord } from 'aws-lambda';
import { describe, expect, it } from 'vitest';
import * as classic from 'zod';
import { httpApiEventSchema } from '../../../functions/kernel/aws-events.js';
import { sqsRecordSchema } from '../../../functions/kernel/queue-consumer.js';
import * as z from '../../../functions/kernel/zod.js';
import { buildHttpApiEvent } from '../../../lib/local/http-event.js';
import { toSqsRecord } from '../../../lib/local/queue-poller.js';

type Json = Record<string, unknown>;

/** A deep copy of `event` with the value at `path` replaced (`undefined` deletes it). */
function withAt(event: unknown, path: string, value: unknown): Json {
  const copy = structuredClone(event) as Json;
  const keys = path.split('.');
  const last = keys.pop() as string;
  let at = copy;
  for (const key of keys) at = at[key] as Json;
  if (value === undefined) delete at[last];
  else at[last] = value;
  return copy;
}

function issuesOf(result: { success: boolean; error?: { issues: readonly unknown[] } }): string[] {
  return (result.error?.issues ?? []).map((issue) => {
    const { path, code } = issue as { path: PropertyKey[]; code: string };
    return `${path.join('.')}: ${code}`;
  });
}

// --- HTTP API, payload format 2.0 -------------------------------------------------------------

/** A request as Node's server hands it to the local runtime's API adapter. */
function localRequest(options: {
  method: string;
  url: string;
  headers?: Record<string, string[]>;
  remoteAddress?: string;
}): IncomingMessage {
  return {
    method: options.method,
    url: options.url,
    httpVersion: '1.1',
    headersDistinct: { host: ['127.0.0.1:3000'], ...options.headers },
    socket: { remoteAddress: options.remoteAddress ?? '::ffff:127.0.0.1', localPort: 3000 },
  } as unknown as IncomingMessage;
}

const LOCAL_EVENTS: Record<string, unknown> = {
  'GET, no body, no query': buildHttpApiEvent(
    localRequest({ method: 'GET', url: '/health' }),
    Buffer.alloc(0),
    { routeKey: 'GET /health', pathParameters: {} },
    { requestId: 'r-1', receivedAt: 1_765_000_000_000 },
  ),
  'PUT, JSON body, path parameters, query, cookies, IPv6': buildHttpApiEvent(
    localRequest({
      method: 'PUT',
      url: '/v1/tenants/acme?dryRun=1&tag=a&tag=b',
      headers: {
        'content-type': ['application/json'],
        authorization: ['Bearer k'],
        cookie: ['a=1; b=2'],
      },
      remoteAddress: '2001:db8::1',
    }),
    Buffer.from('{"name":"Acme"}'),
    { routeKey: 'PUT /v1/tenants/{tenantId}', pathParameters: { tenantId: 'acme' } },
    { requestId: 'r-2' },
  ),
  'POST, binary body (base64)': buildHttpApiEvent(
    localRequest({
      method: 'POST',
      url: '/webhooks/whatsapp',
      headers: { 'content-type': ['application/octet-stream'] },
    }),
    Buffer.from([0, 1, 2, 255]),
    { routeKey: 'POST /webhooks/whatsapp', pathParameters: {} },
    { requestId: 'r-3' },
  ),
};

/**
 * The example event of AWS's "Working with AWS Lambda proxy integrations for HTTP APIs", payload
 * format 2.0 (JWT authorizer, client certificate, cookies, stage variables).
 */
const AWS_DOCUMENTED = {
  version: '2.0',
  routeKey: '$default',
  rawPath: '/my/path',
  rawQueryString: 'parameter1=value1&parameter1=value2&parameter2=value',
  cookies: ['cookie1', 'cookie2'],
  headers: { header1: 'value1', header2: 'value1,value2' },
  queryStringParameters: { parameter1: 'value1,value2', parameter2: 'value' },
  requestContext: {
    accountId: '123456789012',
    apiId: 'api-id',
    authentication: {
      clientCert: {
        clientCertPem: 'CERT_CONTENT',
        subjectDN: 'www.example.com',
        issuerDN: 'Example issuer',
        serialNumber: 'a1:a1:a1:a1:a1:a1:a1:a1:a1:a1:a1:a1:a1:a1:a1:a1',
        validity: { notBefore: 'May 28 12:30:02 2019 GMT', notAfter: 'Aug  5 09:36:04 2021 GMT' },
      },
    },
    authorizer: {
      jwt: { claims: { claim1: 'value1', claim2: 'value2' }, scopes: ['scope1', 'scope2'] },
    },
    domainName: 'id.execute-api.us-east-1.amazonaws.com',
    domainPrefix: 'id',
    http: {
      method: 'POST',
      path: '/my/path',
      protocol: 'HTTP/1.1',
      sourceIp: '192.0.2.1',
      userAgent: 'agent',
    },
    requestId: 'id',
    routeKey: '$default',
    stage: '$default',
    time: '12/Mar/2020:19:03:58 +0000',
    timeEpoch: 1583348638390,
  },
  body: 'Hello from Lambda',
  pathParameters: { parameter1: 'value1' },
  isBase64Encoded: false,
  stageVariables: { stageVariable1: 'value1', stageVariable2: 'value2' },
};

const AWS_EVENTS: Record<string, unknown> = {
  'documented: JWT authorizer, client certificate, cookies': AWS_DOCUMENTED,
  'documented, without a body, query, cookies, path parameters or authorizer': (() => {
    let event = AWS_DOCUMENTED as unknown;
    for (const path of [
      'body',
      'cookies',
      'queryStringParameters',
      'pathParameters',
      'stageVariables',
      'requestContext.authorizer',
      'requestContext.authentication',
    ]) {
      event = withAt(event, path, undefined);
    }
    return { ...(event as Json), rawQueryString: '' };
  })(),
  'documented, base64 body': { ...AWS_DOCUMENTED, body: 'AAEC/w==', isBase64Encoded: true },
  'Lambda authorizer context': withAt(AWS_DOCUMENTED, 'requestContext.authorizer', {
    lambda: { tenant: 'acme', scopes: ['a'] },
  }),
  'IAM authorizer': withAt(AWS_DOCUMENTED, 'requestContext.authorizer', {
    iam: {
      accessKey: 'AKIA',
      accountId: '123456789012',
      callerId: 'AIDA',
      cognitoIdentity: null,
      principalOrgId: null,
      userArn: 'arn:aws:iam::123456789012:user/ops',
      userId: 'AIDA',
    },
  }),
  'null path parameters and stage variables (a route without them)': {
    ...AWS_DOCUMENTED,
    pathParameters: null,
    stageVariables: null,
  },
  'IPv6 source, GET': withAt(
    withAt(AWS_DOCUMENTED, 'requestContext.http.sourceIp', '2001:db8::8a2e:370:7334'),
    'requestContext.http.method',
    'GET',
  ),
};

/** Broken in a field the kernel reads: both refuse, with the same issues. */
const HTTP_BROKEN: Record<string, [string, unknown]> = {
  'no headers': ['headers', undefined],
  'a header that is not a string': ['headers.header1', 1],
  'query parameters null': ['queryStringParameters', null],
  'a path parameter that is not a string': ['pathParameters.parameter1', 7],
  'a body that is not a string': ['body', { a: 1 }],
  'no isBase64Encoded': ['isBase64Encoded', undefined],
  'isBase64Encoded a string': ['isBase64Encoded', 'false'],
  'no route key': ['routeKey', undefined],
  'no raw path': ['rawPath', undefined],
  'a method API Gateway does not have': ['requestContext.http.method', 'TRACE'],
  'a source that is not an IP address': ['requestContext.http.sourceIp', 'localhost'],
  'no request id': ['requestContext.requestId', undefined],
  'no requestContext.http': ['requestContext.http', undefined],
};

describe('the HTTP API event schema (kernel) against Parser’s APIGatewayProxyEventV2Schema', () => {
  it.each(Object.entries({ ...LOCAL_EVENTS, ...AWS_EVENTS }))('both accept: %s', (_, event) => {
    // Act
    const ours = httpApiEventSchema.safeParse(event);
    const parsers = APIGatewayProxyEventV2Schema.safeParse(event);

    // Assess: and what the kernel reads is the same in both.
    expect(issuesOf(parsers)).toEqual([]);
    expect(issuesOf(ours)).toEqual([]);
    const read = (e: Json) => {
      const context = e.requestContext as Json & { http: Json };
      return [
        e.routeKey,
        e.rawPath,
        e.headers,
        e.queryStringParameters,
        e.pathParameters,
        e.body,
        e.isBase64Encoded,
        context.http.method,
        context.http.sourceIp,
        context.requestId,
      ];
    };
    expect(read(ours.data as Json)).toEqual(read(parsers.data as Json));
  });

  it.each(Object.entries(HTTP_BROKEN))(
    'both refuse, with the same issues: %s',
    (_, [path, value]) => {
      // Prepare
      const event = withAt(AWS_DOCUMENTED, path, value);

      // Act
      const ours = httpApiEventSchema.safeParse(event);
      const parsers = APIGatewayProxyEventV2Schema.safeParse(event);

      // Assess
      expect(parsers.success).toBe(false);
      expect(ours.success).toBe(false);
      expect(issuesOf(ours)).toEqual(issuesOf(parsers));
    },
  );

  it('accepts what Parser refused for fields the kernel never reads (and only those)', () => {
    // Prepare: each alone breaks Parser's schema.
    const unread: [string, unknown][] = [
      ['version', undefined],
      ['rawQueryString', undefined],
      ['cookies', 'a=1'],
      ['stageVariables', { a: 1 }],
      ['requestContext.accountId', undefined],
      ['requestContext.timeEpoch', '1583348638390'],
      ['requestContext.http.userAgent', undefined],
      ['requestContext.authorizer', { jwt: { claims: {}, scopes: 'a' } }],
    ];

    // Act
    const outcomes = unread.map(([path, value]) => {
      const event = withAt(AWS_DOCUMENTED, path, value);
      return [
        path,
        httpApiEventSchema.safeParse(event).success,
        APIGatewayProxyEventV2Schema.safeParse(event).success,
      ];
    });

    // Assess
    expect(outcomes).toEqual(unread.map(([path]) => [path, true, false]));
  });
});

// --- SQS records ------------------------------------------------------------------------------

const bodySchema = z.strictObject({ tenantId: z.string(), n: z.number() });
const classicBody = classic.object({ tenantId: classic.string(), n: classic.number() }).strict();
const ours = sqsRecordSchema(bodySchema);
const parsers = SqsRecordSchema.extend({ body: JSONStringified(classicBody) });
const BODY = JSON.stringify({ tenantId: 'acme', n: 1 });

/** AWS's documented FIFO record (Lambda developer guide, "Using Lambda with Amazon SQS"), with our body. */
const FIFO_RECORD = {
  messageId: '11d6ee51-4cc7-4302-9e22-7cd8afdaadf5',
  receiptHandle: 'AQEBBX8nesZEXmkhsmZeyIE8iQAMig7qw...',
  body: BODY,
  attributes: {
    ApproximateReceiveCount: '1',
    SentTimestamp: '1573251510774',
    SequenceNumber: '18849496460467696128',
    MessageGroupId: '1',
    SenderId: 'AIDAIO23YVJENQZJOL4VO',
    MessageDeduplicationId: '1',
    ApproximateFirstReceiveTimestamp: '1573251510774',
  },
  messageAttributes: {},
  md5OfBody: 'e4e68fb7bd0e697a0ae8f1bb342846b3',
  eventSource: 'aws:sqs',
  eventSourceARN: 'arn:aws:sqs:us-east-2:123456789012:fifo.fifo',
  awsRegion: 'us-east-2',
};

const SQS_RECORDS: Record<string, unknown> = {
  'documented FIFO record': FIFO_RECORD,
  'documented standard record, message attributes, trace header': {
    ...FIFO_RECORD,
    attributes: {
      ApproximateReceiveCount: '3',
      SentTimestamp: '1545082649183',
      SenderId: 'AIDAIENQZJOLO23YVJ4VO',
      ApproximateFirstReceiveTimestamp: '1545082649185',
      AWSTraceHeader: 'Root=1-5759e988-bd862e3fe1be46a994272793;Sampled=1',
    },
    messageAttributes: {
      myAttribute: {
        stringValue: 'myValue',
        stringListValues: [],
        binaryListValues: [],
        dataType: 'String',
      },
    },
    md5OfMessageAttributes: null,
    eventSourceARN: 'arn:aws:sqs:us-east-2:123456789012:my-queue',
  },
  'the local runtime’s FIFO record': toSqsRecord(
    {
      MessageId: 'm-1',
      ReceiptHandle: 'r-1',
      Body: BODY,
      MD5OfBody: 'x',
      Attributes: {
        ApproximateReceiveCount: '2',
        SentTimestamp: '1765000000000',
        SequenceNumber: '1',
        MessageGroupId: 'acme#c-1',
        MessageDeduplicationId: 'd-1',
      },
      MessageAttributes: { kind: { DataType: 'String', StringValue: 'send' } },
    },
    'arn:aws:sqs:us-east-1:000000000000:sends.fifo',
  ),
};

/** Broken in what the consumer reads: both refuse, with the same issues (the poison log's lines). */
const SQS_BROKEN: Record<string, [string, unknown]> = {
  'another service’s record': ['eventSource', 'aws:kinesis'],
  'no message id': ['messageId', undefined],
  'no receipt handle': ['receiptHandle', undefined],
  'no receive count': ['attributes.ApproximateReceiveCount', undefined],
  'a message group id that is not a string': ['attributes.MessageGroupId', 1],
  'no attributes': ['attributes', undefined],
  'no queue ARN': ['eventSourceARN', undefined],
  'a body that is not JSON': ['body', '{"tenantId":'],
  'a body that is not a string': ['body', { tenantId: 'acme', n: 1 }],
  'a body of the wrong shape': ['body', JSON.stringify({ tenantId: 'acme', n: '1' })],
  'a body with a field too many': ['body', JSON.stringify({ tenantId: 'acme', n: 1, x: 2 })],
};

describe('the SQS record schema (kernel) against Parser’s SqsRecordSchema with JSONStringified', () => {
  it.each(Object.entries(SQS_RECORDS))('both accept, with the same body: %s', (_, record) => {
    // Act
    const mine = z.safeParse(ours, record);
    const theirs = parsers.safeParse(record);

    // Assess
    expect(issuesOf(theirs)).toEqual([]);
    expect(issuesOf(mine)).toEqual([]);
    expect((mine.data as { body: unknown }).body).toEqual(theirs.data?.body);
  });

  it.each(Object.entries(SQS_BROKEN))(
    'both refuse, with the same issues: %s',
    (_, [path, value]) => {
      // Prepare
      const record = withAt(FIFO_RECORD, path, value);

      // Act
      const mine = z.safeParse(ours, record);
      const theirs = parsers.safeParse(record);

      // Assess
      expect(theirs.success).toBe(false);
      expect(mine.success).toBe(false);
      expect(issuesOf(mine)).toEqual(issuesOf(theirs));
    },
  );

  it('says what Parser said of a body that is not JSON', () => {
    const record = withAt(FIFO_RECORD, 'body', 'not json');
    const message = (result: { error?: { issues: readonly { message: string }[] } }) =>
      result.error?.issues.map((issue) => issue.message);
    expect(message(z.safeParse(ours, record))).toEqual(message(parsers.safeParse(record)));
  });

  it('accepts what Parser refused for fields the consumer never reads (and only those)', () => {
    // Prepare: each alone breaks Parser's schema.
    const unread: [string, unknown][] = [
      ['md5OfBody', undefined],
      ['awsRegion', undefined],
      ['messageAttributes', undefined],
      ['attributes.SenderId', undefined],
      ['attributes.SentTimestamp', undefined],
      ['attributes.ApproximateFirstReceiveTimestamp', undefined],
    ];

    // Act
    const outcomes = unread.map(([path, value]) => {
      const record = withAt(FIFO_RECORD, path, value) as unknown as SQSRecord;
      return [path, z.safeParse(ours, record).success, parsers.safeParse(record).success];
    });

    // Assess
    expect(outcomes).toEqual(unread.map(([path]) => [path, true, false]));
  });
});
