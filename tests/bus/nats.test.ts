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
    // Pulls stay open longer than a test's redelivery cycle (ackWait 1 s): nats-server 2.9 can count a
    // redelivery to a pull that expires at that instant without sending it (docs/bus.md).
    pollMs: 5000,
    ...settings,
  });
});
