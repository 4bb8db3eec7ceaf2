// Development and tests only: a worker thread cannot load TypeScript by
// itself, so this plain-JS entry registers tsx's loader, then imports the real
// entry. Compiled builds (dist/) spawn their .js entries directly.
import { workerData } from 'node:worker_threads';
import { register } from 'tsx/esm/api';

register();
await import(workerData.__uaeEntry);
