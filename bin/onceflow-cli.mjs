#!/usr/bin/env node
// `npx onceflow`: runs the TypeScript CLI (bin/cli.ts) through tsx, as `npm start` runs the runtime.
import { register } from 'tsx/esm/api';

register();
await import('./cli.ts');
