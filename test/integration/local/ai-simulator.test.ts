/**
 * The OpenAI simulator answers as OpenAI does for the requests a real client sends: content as a
 * list of parts, no API key (401), a body that is not JSON (400), all in OpenAI's error shape.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startAiSimulator } from '../conversations/inbound-support.js';

let ai: Awaited<ReturnType<typeof startAiSimulator>>;

beforeAll(async () => {
  ai = await startAiSimulator();
});

afterAll(async () => {
  await ai.stop();
});

async function complete(body: string, headers: Record<string, string> = {}) {
  const response = await fetch(`${ai.url}/v1/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: 'Bearer sk-test', ...headers },
    body,
  });
  return {
    status: response.status,
    json: (await response.json()) as {
      choices: Array<{ message: { content: string } }>;
      usage: { prompt_tokens: number };
    },
  };
}

const openAiError = (type: string) => ({
  error: { message: expect.any(String), type, param: null, code: null },
});

describe('OpenAI simulator: POST /v1/chat/completions', () => {
  it('accepts content as a list of text parts, as the API does', async () => {
    const answer = await complete(
      JSON.stringify({
        model: 'gpt-4o-mini',
        messages: [
          { role: 'system', content: [{ type: 'text', text: 'Label the message.' }] },
          { role: 'user', content: [{ type: 'text', text: 'What is the price?' }] },
        ],
      }),
    );
    expect(answer.status).toBe(200);
    expect(answer.json.choices[0]?.message.content).toBe('sales_lead');
    expect(answer.json.usage.prompt_tokens).toBeGreaterThan(3);
  });

  it('is 401 without an API key, and 400 for JSON it cannot parse or an unknown role', async () => {
    const valid = JSON.stringify({ model: 'm', messages: [{ role: 'user', content: 'hi' }] });
    const noKey = await complete(valid, { authorization: '' });
    expect(noKey).toEqual({ status: 401, json: openAiError('invalid_request_error') });
    const notJson = await complete('{"model":');
    expect(notJson).toEqual({ status: 400, json: openAiError('invalid_request_error') });
    const badRole = await complete(
      JSON.stringify({ model: 'm', messages: [{ role: 'robot', content: 'hi' }] }),
    );
    expect(badRole).toEqual({ status: 400, json: openAiError('invalid_request_error') });
  });
});
