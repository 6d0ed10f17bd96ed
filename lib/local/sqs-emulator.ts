/**
 * The SQS emulator: fauxqs, in-process, speaking path-style queue URLs on its own origin
 * (`http://127.0.0.1:<port>/000000000000/<name>`).
 *
 * fauxqs names queues `http://sqs.<region>.localhost:<port>/...`, a host glibc does not resolve, and
 * the SQS client sends every request to its QueueUrl's host unless an endpoint is set in code
 * (handlers only get `AWS_ENDPOINT_URL_SQS`). So URLs are translated at the edge: request
 * `QueueUrl`s to fauxqs' form, response URLs back to ours. Everything else is fauxqs as is; it keeps
 * nothing across restarts, which is harmless because DynamoDB is the truth.
 */
import { buildApp } from 'fauxqs';
import { LOCAL_REGION } from './resources.js';

export interface SqsEmulator {
  readonly endpoint: string;
  readonly port: number;
  stop(): Promise<void>;
}

const FAUXQS_URL = /^http:\/\/sqs\.[a-z0-9-]+\.localhost(:\d+)?\//;

function signingRegion(authorization: string | undefined): string {
  return (
    /Credential=[^/]+\/\d{8}\/([a-z0-9-]+)\/sqs\//.exec(authorization ?? '')?.[1] ?? LOCAL_REGION
  );
}

/** `http://127.0.0.1:9324/000000000000/q.fifo` → fauxqs' own key for that queue. */
function toFauxqsUrl(url: string, region: string): string {
  if (FAUXQS_URL.test(url)) return url;
  try {
    const parsed = new URL(url);
    return `http://sqs.${region}.localhost${parsed.port ? `:${parsed.port}` : ''}${parsed.pathname}`;
  } catch {
    return url;
  }
}

function toPublicUrls(value: unknown, origin: string): unknown {
  if (typeof value === 'string') return value.replace(FAUXQS_URL, `${origin}/`);
  if (Array.isArray(value)) return value.map((item) => toPublicUrls(item, origin));
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(
      Object.entries(value).map(([key, inner]) => [key, toPublicUrls(inner, origin)]),
    );
  }
  return value;
}

export async function startSqsEmulator(options: { readonly port: number }): Promise<SqsEmulator> {
  const app = buildApp({ logger: false });
  let origin = '';
  app.addHook('preHandler', async (request) => {
    const body = request.body as { QueueUrl?: unknown } | undefined;
    if (
      String(request.headers['content-type']).includes('x-amz-json') &&
      body &&
      typeof body.QueueUrl === 'string'
    ) {
      body.QueueUrl = toFauxqsUrl(body.QueueUrl, signingRegion(request.headers.authorization));
    }
  });
  app.addHook('preSerialization', async (request, _reply, payload) =>
    String(request.headers['content-type']).includes('x-amz-json')
      ? toPublicUrls(payload, origin)
      : payload,
  );
  await app.listen({ port: options.port, host: '127.0.0.1' });
  const address = app.server.address();
  const port = typeof address === 'object' && address ? address.port : options.port;
  origin = `http://127.0.0.1:${port}`;
  let stopped = false;
  return {
    endpoint: origin,
    port,
    async stop() {
      if (stopped) return;
      stopped = true;
      await app.close();
    },
  };
}
