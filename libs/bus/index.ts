/**
 * libs/bus: job state (KV), artifacts (object store / directory), sharded work
 * (JetStream work queue / in-process queue) and job events, behind one `Bus` interface.
 * `connectBus` talks to NATS JetStream; `createEmbeddedBus` needs nothing but a directory.
 */
export * from './types.js';
export * from './subjects.js';
export { connectBus, natsTopology, isTransientNatsError, parseAckSubject, type NatsBus, type NatsBusOptions, type NatsTopology } from './nats.js';
export {
  createEmbeddedBus,
  DirArtifactStore,
  MemoryKvStore,
  EmbeddedWorkQueue,
  EmbeddedEventBus,
  type EmbeddedBusOptions,
  type EmbeddedWorkQueueOptions,
} from './embedded.js';
export { DEAD_LETTER_ATTEMPTS, transportMaxDeliver } from './consume-loop.js';
