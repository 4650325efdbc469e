#!/usr/bin/env node
// stopline's entry point (the `stopline` bin): checks the Node.js version first, then loads the process
// (src/lifecycle.ts). Nothing else may be imported statically here: the check must run before undici is loaded.
import { requireNode } from './node-check.ts';

requireNode();
await import('./lifecycle.ts');
