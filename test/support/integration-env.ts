/**
 * Integration setup file: runs in each test file's worker before the file is imported, so handlers
 * and kernel clients see the emulators' environment when they are created.
 */
import { inject } from 'vitest';
import { applyEnvironment } from '../../lib/local/environment.js';

applyEnvironment(inject('onceflowEnv'));
