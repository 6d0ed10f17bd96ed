/**
 * Requests and write units by command and partition-key prefix: which part of a design costs what.
 * The campaign and replies benches print it per contact / per reply beside their totals.
 */
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { RuntimeCalls } from './dynamodb-tally.js';

const round = (n: number, digits = 2) => Math.round(n * 10 ** digits) / 10 ** digits;

export type Breakdown = Map<string, { requests: number; wcu: number }>;

/** The partition-key prefixes (`CR`, `CC`, `TB`, …) a request touches. */
function prefixesOf(input: Record<string, unknown>): string {
  const found = new Set<string>();
  const visit = (value: unknown, depth: number) => {
    if (depth > 6 || value === null || typeof value !== 'object') return;
    for (const [k, v] of Object.entries(value)) {
      if (k === 'pk') {
        const raw = (v as { S?: string })?.S ?? (typeof v === 'string' ? v : undefined);
        if (raw) found.add(raw.split('#')[0] ?? raw);
      } else visit(v, depth + 1);
    }
  };
  visit(input.Key ?? input.Item ?? input.TransactItems ?? input.RequestItems ?? input, 0);
  const values = input.ExpressionAttributeValues as Record<string, { S?: string }> | undefined;
  const pk = values?.[':pk']?.S;
  if (pk) found.add(pk.split('#')[0] ?? pk);
  if (typeof input.IndexName === 'string') found.add(`index:${input.IndexName}`);
  return [...found].sort().join('+');
}

/** Requests and write units by command and key prefix (which part of the design costs what). */
export function breakdown() {
  let counting = false;
  const table: Breakdown = new Map();
  return {
    /** Charges one request (a failed write: the units AWS would charge for its refused condition). */
    record(
      operation: string,
      input: Readonly<Record<string, unknown>>,
      outcome: { failed: boolean; output?: Readonly<Record<string, unknown>> },
    ) {
      if (!counting) return;
      const label = `${operation} ${prefixesOf(input)}`;
      const entry = table.get(label) ?? { requests: 0, wcu: 0 };
      table.set(label, entry);
      entry.requests += 1;
      if (!/Put|Update|Delete|Write/.test(operation)) return;
      if (outcome.failed) {
        const items = (input.TransactItems as unknown[] | undefined)?.length;
        entry.wcu += items ? 2 * items : 1;
        return;
      }
      const consumed = outcome.output?.ConsumedCapacity;
      const list = (Array.isArray(consumed) ? consumed : consumed ? [consumed] : []) as Array<{
        WriteCapacityUnits?: number;
        CapacityUnits?: number;
      }>;
      for (const c of list) entry.wcu += c.WriteCapacityUnits ?? c.CapacityUnits ?? 0;
    },
    start() {
      table.clear();
      counting = true;
    },
    stop(per: number) {
      counting = false;
      return Object.fromEntries(
        [...table.entries()]
          .sort((a, b) => b[1].wcu - a[1].wcu || b[1].requests - a[1].requests)
          .map(([label, e]) => [
            label,
            { requests: round(e.requests / per, 3), wcu: round(e.wcu / per, 3) },
          ]),
      );
    },
  };
}

/** The breakdown of the requests `client` makes (the baseline's, in this process). */
export function breakdownOf(client: DynamoDBClient, name: string) {
  const table = breakdown();
  client.middlewareStack.add(
    (next, context) => async (call) => {
      const operation = (context.commandName ?? '').replace(/Command$/, '');
      const input = call.input as Record<string, unknown>;
      try {
        const out = await next(call);
        table.record(operation, input, {
          failed: false,
          output: out.output as unknown as Record<string, unknown>,
        });
        return out;
      } catch (error) {
        table.record(operation, input, { failed: true });
        throw error;
      }
    },
    { step: 'initialize', name },
  );
  return table;
}

/** The breakdown of the requests onceflow's functions make (each in its worker: the gateway sees them). */
export function breakdownOfRuntime(runtime: RuntimeCalls) {
  const table = breakdown();
  runtime.observeAwsCalls({
    consumedCapacity: 'TOTAL',
    observe(call) {
      if (call.service !== 'dynamodb') return;
      table.record(call.operation, call.input, {
        failed: call.status !== 200,
        ...(call.output ? { output: call.output } : {}),
      });
    },
  });
  return table;
}
