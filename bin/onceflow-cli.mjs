#!/usr/bin/env node
// `npx onceflow`: runs the TypeScript CLI (bin/cli.ts) through tsx, as `npm start` runs the runtime.
import { register } from 'tsx/esm/api';

// The CLI runs on the developer's Node (20.19+; the Lambdas run Node.js 24): on Node 20 the SDK's
// "upgrade to 22" notice is noise in a CLI's output.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

register();
await import('./cli.ts');
