#!/usr/bin/env node
import { App, Aspects } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import { nagSummary } from '../lib/nag-summary.js';
import { OnceflowStack } from '../lib/onceflow-stack.js';
import { limitsFromContext } from '../lib/operational-limits.js';

const app = new App();
new OnceflowStack(app, 'OnceflowStack', {
  description: 'onceflow: exactly-once effects for messaging platforms',
  limits: limitsFromContext(app.node),
});
Aspects.of(app).add(new AwsSolutionsChecks({ verbose: true }));
// One line after the synth: what cdk-nag found and what was suppressed (with reasons, in the template).
process.stderr.write(`${nagSummary(app.synth())}\n`);
