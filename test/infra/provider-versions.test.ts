/**
 * `cdk synth` checks the provider API versions the functions are deployed with against the sunset
 * calendar, on its own clock seam (`now`): a version past its sunset stops the synth naming the
 * setting; one within 60 days of it is a synth warning; the versions reach the functions that call
 * the providers through their environment.
 */
import { Annotations, Match, Template } from 'aws-cdk-lib/assertions';
import { describe, expect, it } from 'vitest';
import { OnceflowStack } from '../../lib/onceflow-stack.js';
import { testApp } from './synth-support.js';

const today = Date.parse('2026-12-06T00:00:00Z');

describe('provider API versions at synth', () => {
  it('refuses a version past its sunset, naming the setting and the date', () => {
    expect(
      () =>
        new OnceflowStack(testApp(), 'Sunset', {
          now: today,
          providerVersions: { googleAds: 'v22' },
        }),
    ).toThrow(/GOOGLE_ADS_API_VERSION=v22 was sunset on 2026-10-07/);
    expect(
      () =>
        new OnceflowStack(testApp(), 'Unknown', {
          now: today,
          providerVersions: { whatsappGraph: 'v99.0' },
        }),
    ).toThrow(/WHATSAPP_API_VERSION=v99.0 is not in the version calendar/);
  });

  it('warns within 60 days of a sunset and gives each caller its version', () => {
    const stack = new OnceflowStack(testApp(), 'Soon', {
      now: Date.parse('2027-06-15T00:00:00Z'),
    });
    const warnings = Annotations.fromStack(stack).findWarning(
      '*',
      Match.stringLikeRegexp('GOOGLE_ADS_API_VERSION=v25 is sunset on 2027-08-01'),
    );
    expect(warnings).toHaveLength(1);
    const template = Template.fromStack(stack);
    template.hasResourceProperties('AWS::Lambda::Function', {
      Description: Match.stringLikeRegexp('API mode: uploads'),
      Environment: { Variables: Match.objectLike({ GOOGLE_ADS_API_VERSION: 'v25' }) },
    });
    template.hasResourceProperties('AWS::Lambda::Function', {
      Description: Match.stringLikeRegexp('WhatsApp template'),
      Environment: { Variables: Match.objectLike({ WHATSAPP_API_VERSION: 'v25.0' }) },
    });
  });
});
