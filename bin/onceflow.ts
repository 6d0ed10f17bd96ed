#!/usr/bin/env node
import { App, Aspects } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import { OnceflowStack } from '../lib/onceflow-stack.js';
import { limitsFromContext } from '../lib/operational-limits.js';

const app = new App();
new OnceflowStack(app, 'OnceflowStack', {
  description: 'onceflow: exactly-once effects for messaging platforms',
  limits: limitsFromContext(app.node),
});
Aspects.of(app).add(new AwsSolutionsChecks({ verbose: true }));
