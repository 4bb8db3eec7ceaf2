/**
 * The bus a service uses, chosen from its configuration:
 *   UAE_NATS_URL set   → connectBus (NATS JetStream; every replica shares state)
 *   UAE_NATS_URL unset → createEmbeddedBus in UAE_DATA_DIR (default `.uae/state`)
 *
 * `openServiceBus` returns at once with a `bus` that forwards to the real one
 * once `connect()` (the service's "bus" readiness check) has succeeded, so
 * handlers can be built before the connection exists: the service-kit answers
 * UNAVAILABLE until every readiness check passed, so no handler touches the bus
 * before then. Using it earlier throws a BusNotReadyError (UNAVAILABLE).
 *
 * Embedded mode shares the artifact directory between processes that point at
 * the same UAE_DATA_DIR (files, atomically renamed), but each process keeps its
 * own KV (job records) and events in memory: a multi-process deployment uses NATS.
 */
import { resolve } from 'node:path';
import {
  connectBus,
  createEmbeddedBus,
  type Bus,
  type EmbeddedBusOptions,
  type NatsBus,
  type NatsBusOptions,
} from '../../libs/bus/index.js';
import { Status, type Logger, type ServiceConfig } from '../../libs/service-kit/index.js';
import type { Kinded } from '../../libs/errors/index.js';

/** Default embedded-bus directory (relative to the working directory) when UAE_DATA_DIR is unset. */
export const DEFAULT_STATE_DIR = '.uae/state';

export class BusNotReadyError extends Error implements Kinded {
  readonly kind = 'unavailable' as const;
  /** gRPC UNAVAILABLE, for callers that read a status code (the kit maps the kind to the same). */
  readonly code = Status.UNAVAILABLE;
  constructor() {
    super('the bus is not connected yet');
    this.name = 'BusNotReadyError';
  }
}

export interface ServiceBusOptions {
  /** Extra connectBus options (ack wait, max deliver, stream prefix, …). */
  nats?: Partial<Omit<NatsBusOptions, 'servers'>>;
  /** Extra createEmbeddedBus options (`dir` defaults to UAE_DATA_DIR or .uae/state). */
  embedded?: Partial<EmbeddedBusOptions>;
  logger?: Logger;
  /** Called when the NATS connection drops (false) and comes back (true). */
  onConnectionChange?: (connected: boolean, reason: string) => void;
}

export interface ServiceBus {
  /** Forwards to the connected bus; throws BusNotReadyError before connect() succeeded. */
  readonly bus: Bus;
  readonly mode: 'nats' | 'embedded';
  /** Where the embedded bus keeps its state (embedded mode only). */
  readonly dir: string | undefined;
  readonly connected: boolean;
  /** Connects (idempotent once it succeeded). Use as a readiness check: it throws to be retried. */
  connect(): Promise<Bus>;
  close(): Promise<void>;
}

/** The embedded bus directory for a configuration: UAE_DATA_DIR, else `.uae/state`. */
export function stateDir(config: Pick<ServiceConfig, 'dataDir'>): string {
  return config.dataDir ?? resolve(DEFAULT_STATE_DIR);
}

export function openServiceBus(config: ServiceConfig, opts: ServiceBusOptions = {}): ServiceBus {
  let current: Bus | undefined;
  let connecting: Promise<Bus> | undefined;
  let closed = false;
  const mode = config.busMode;
  const dir = mode === 'embedded' ? (opts.embedded?.dir ?? stateDir(config)) : undefined;

  const need = (): Bus => {
    if (!current) throw new BusNotReadyError();
    return current;
  };
  const bus: Bus = {
    get kind() {
      return need().kind;
    },
    get subjects() {
      return need().subjects;
    },
    get artifacts() {
      return need().artifacts;
    },
    get kv() {
      return need().kv;
    },
    get work() {
      return need().work;
    },
    get events() {
      return need().events;
    },
    close: () => handle.close(),
  };

  const watchNats = (nb: NatsBus) => {
    void (async () => {
      for await (const s of nb.connection.status()) {
        if (s.type === 'disconnect') opts.onConnectionChange?.(false, `NATS connection lost (${String(s.data)})`);
        else if (s.type === 'reconnect') opts.onConnectionChange?.(true, 'NATS reconnected');
      }
    })().catch(() => {});
  };

  const handle: ServiceBus = {
    bus,
    mode,
    dir,
    get connected() {
      return current !== undefined;
    },
    connect() {
      if (current) return Promise.resolve(current);
      if (closed) return Promise.reject(new Error('bus closed'));
      connecting ??= (async () => {
        try {
          let b: Bus;
          if (mode === 'nats') {
            // Queue settings from the environment (shared by every process), then the caller's.
            const nb = await connectBus({ name: `uae-${config.serviceName}`, ...config.queue, ...opts.nats, servers: config.natsServers });
            watchNats(nb);
            b = nb;
          } else {
            b = await createEmbeddedBus({ ...opts.embedded, dir: dir! });
          }
          if (closed) {
            await b.close();
            throw new Error('bus closed');
          }
          current = b;
          opts.logger?.info({ bus: mode, ...(dir ? { dir } : { servers: config.natsServers }) }, 'bus connected');
          return b;
        } finally {
          connecting = undefined;
        }
      })();
      return connecting;
    },
    async close() {
      if (closed) return;
      closed = true;
      const b = current;
      current = undefined;
      await b?.close();
    },
  };
  return handle;
}
