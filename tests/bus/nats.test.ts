import { afterAll, beforeAll } from 'vitest';
import { connectBus } from '../../libs/bus/index.js';
import { startNatsServer, type NatsServerHandle } from '../helpers/nats-server.js';
import { busContract } from './contract.js';

let server: NatsServerHandle;
let n = 0;
beforeAll(async () => {
  server = await startNatsServer();
});
afterAll(async () => {
  await server?.dispose();
});

// every bus gets its own streams, buckets and subject root, so tests cannot see each other's work
busContract('nats', async (settings) => {
  n++;
  return connectBus({
    servers: server.url,
    name: `contract-${n}`,
    streamPrefix: `T${n}`,
    subjectRoot: `t${n}.uae.v1`,
    storage: 'file',
    pollMs: 1000,
    ...settings,
  });
});
