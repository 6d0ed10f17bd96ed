/**
 * The stream edge answers Lambda's partial batch response for streams: the first failed record's
 * sequence number only (Lambda checkpoints before the lowest one and gives everything after it
 * again), nothing when all went through, and a record that does not read fails there, with the
 * records before it handed over.
 */
import type { DynamoDBRecord, DynamoDBStreamEvent } from 'aws-lambda';
import { describe, expect, it } from 'vitest';
import {
  consumeStreamBatch,
  type StreamChange,
} from '../../../functions/kernel/stream-consumer.js';

function record(sequence: string, image: DynamoDBRecord['dynamodb'] = {}): DynamoDBRecord {
  return {
    eventID: `e${sequence}`,
    eventName: 'INSERT',
    eventSource: 'aws:dynamodb',
    eventVersion: '1.1',
    awsRegion: 'us-east-1',
    dynamodb: {
      ApproximateCreationDateTime: 1_796_600_000,
      SequenceNumber: sequence,
      Keys: { pk: { S: `p${sequence}` } },
      NewImage: { pk: { S: `p${sequence}` }, n: { N: sequence } },
      StreamViewType: 'NEW_AND_OLD_IMAGES',
      ...image,
    },
  };
}

const event = (...records: DynamoDBRecord[]): DynamoDBStreamEvent => ({ Records: records });

describe('the stream edge', () => {
  it('reads images into plain items, in order, with the commit time', async () => {
    const seen: StreamChange[] = [];
    const answer = await consumeStreamBatch(
      {
        name: 'probe',
        handle: async (changes) => {
          seen.push(...changes);
          return {};
        },
      },
      event(record('1'), record('2')),
    );
    expect(answer).toEqual({ batchItemFailures: [] });
    expect(seen.map((c) => [c.sequenceNumber, c.newImage, c.committedAt])).toEqual([
      ['1', { pk: 'p1', n: 1 }, '2026-12-06T23:33:20.000Z'],
      ['2', { pk: 'p2', n: 2 }, '2026-12-06T23:33:20.000Z'],
    ]);
  });

  it('names only the first failed record, so Lambda gives it and every later one again', async () => {
    const answer = await consumeStreamBatch(
      { name: 'probe', handle: async () => ({ firstFailed: 1 }) },
      event(record('1'), record('2'), record('3')),
    );
    expect(answer).toEqual({ batchItemFailures: [{ itemIdentifier: '2' }] });
  });

  it('fails at a record that does not read, after handing over those before it', async () => {
    const seen: string[] = [];
    const broken = { ...record('2'), eventName: undefined };
    const answer = await consumeStreamBatch(
      {
        name: 'probe',
        handle: async (changes) => {
          seen.push(...changes.map((c) => c.sequenceNumber));
          return {};
        },
      },
      event(record('1'), broken, record('3')),
    );
    expect(seen).toEqual(['1']);
    expect(answer).toEqual({ batchItemFailures: [{ itemIdentifier: '2' }] });
  });
});
