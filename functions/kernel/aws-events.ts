/**
 * The two AWS event shapes the kernel validates, as zod/mini schemas: an HTTP API (payload format
 * 2.0) event and an SQS record.
 *
 * Why not Powertools Parser's (`APIGatewayProxyEventV2Schema`, `SqsRecordSchema`,
 * `JSONStringified`): they are classic zod, and one classic schema in a bundle brings classic's
 * ~78 KB floor beside mini (`kernel/zod.ts`). These declare only what the kernel reads from an
 * event, each field as strictly as Parser checks it (the same types, the same method enum, an IP
 * address as the source); fields nothing reads are not checked, so an event Parser refuses for one
 * of those (a `requestContext.timeEpoch` that is not a number) passes here.
 * `test/unit/kernel/aws-events.test.ts` holds them against Parser's schemas on the local runtime's
 * events and the shapes AWS documents, and pins those differences.
 */
import * as z from './zod.js';

const stringRecord = z.record(z.string(), z.string());

/** What `http.ts` reads of an HTTP API payload format 2.0 event. */
export const httpApiEventSchema = z.object({
  routeKey: z.string(),
  rawPath: z.string(),
  headers: stringRecord,
  queryStringParameters: z.optional(stringRecord),
  pathParameters: z.nullish(stringRecord),
  body: z.optional(z.string()),
  isBase64Encoded: z.boolean(),
  requestContext: z.object({
    http: z.object({
      method: z.enum(['GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'HEAD', 'OPTIONS']),
      sourceIp: z.union([z.ipv4(), z.ipv6()]),
    }),
    requestId: z.string(),
  }),
});

/** The HTTP API event as `httpApiEventSchema` gives it: the fields the kernel reads. */
export type HttpApiEvent = z.output<typeof httpApiEventSchema>;

/**
 * What the queue consumers read of an SQS record (the body as a JSON string), and its event
 * source: a record of another service is not one of ours.
 */
export const sqsRecordSchema = z.object({
  messageId: z.string(),
  receiptHandle: z.string(),
  body: z.string(),
  attributes: z.object({
    ApproximateReceiveCount: z.string(),
    MessageGroupId: z.optional(z.string()),
  }),
  eventSource: z.literal('aws:sqs'),
  eventSourceARN: z.string(),
});

/**
 * A JSON string decoded, then parsed with `schema`: Parser's `JSONStringified`, with the same
 * issue (`custom` at the string's path, "Invalid JSON - <reason>") when it is not JSON.
 */
export function jsonStringified<S extends z.core.$ZodType>(schema: S) {
  return z.pipe(
    z.pipe(
      z.string(),
      z.transform((text: string, payload) => {
        try {
          return JSON.parse(text) as unknown;
        } catch (error) {
          payload.issues.push({
            code: 'custom',
            message: `Invalid JSON - ${(error as Error).message}`,
            input: text,
          });
          return z.NEVER;
        }
      }),
    ),
    schema,
  );
}
