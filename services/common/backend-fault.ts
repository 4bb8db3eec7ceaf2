/**
 * Containment of a failed tfjs backend, shared by every service that runs
 * tfjs (trainer, evaluator, mine-estimator, attack-optimizer). After a
 * WebAssembly trap or an emscripten abort (libs/tensor isBackendFault; a
 * BackendFaultError from an attack worker thread) the wasm instance may be
 * corrupt for the rest of the process (issue 10: every later job failed with
 * "Aborted()"), so:
 *
 *   1. the call, job or shard fails saying why: a gRPC call with UNAVAILABLE
 *      (mapBackendFault, the one rule that maps it, in startUaeService's
 *      error rules), a training job FAILED with UNAVAILABLE, an attack shard
 *      handed back to the queue so that another worker computes it;
 *   2. the service turns NOT_SERVING at once (probes and load balancers take it out);
 *   3. after BACKEND_FAULT_GRACE_MS it shuts down gracefully and exits
 *      BACKEND_FAULT_EXIT_CODE, so its supervisor (Kubernetes, `npm run up`)
 *      starts a fresh process with a fresh backend.
 *
 * startUaeService (service.ts) wires 2–3 as ServiceDeps.backendFault and
 * calls it for every gRPC handler that fails with a backend fault; the
 * trainer's runner and the attack shard worker call it for their background work.
 *
 * Fault drill (tests only, off by default): UAE_FAULT_DRILL=<service>:wasm-trap
 * (comma-separated for several services, e.g. "trainer:wasm-trap,evaluator:wasm-trap")
 * makes that service's first tfjs work hit a real WebAssembly trap in the wasm
 * backend (libs/tensor triggerBackendTrap) — in an attack worker thread when the
 * attack runs on threads. Never set it in a deployment.
 */
import { z } from 'zod';
import { isBackendFault, triggerBackendTrap } from '../../libs/tensor/index.js';
import { ServiceError, Status, type ErrorMapper, type Logger } from '../../libs/service-kit/index.js';

/** Exit code of a service that restarts because its tfjs backend failed (docs/service-kit.md). */
export const BACKEND_FAULT_EXIT_CODE = 70;
/** How long a faulted service stays up NOT_SERVING (probes and load balancers take it out) before it shuts down. */
export const BACKEND_FAULT_GRACE_MS = 1000;

export type FaultDrillKind = 'wasm-trap';
const DRILL_ENTRY = /^([a-z][a-z0-9-]*):(wasm-trap)$/;

/** UAE_FAULT_DRILL (every uae service accepts it; only the named one acts). */
export const faultDrillEnv = {
  UAE_FAULT_DRILL: z
    .string()
    .refine((v) => v.split(',').every((e) => DRILL_ENTRY.test(e.trim())), { message: 'must be <service>:wasm-trap[,<service>:wasm-trap…] (a test-only fault drill)' })
    .optional(),
};

/** An armed fault drill: fires once per process. */
export class FaultDrill {
  private fired = false;
  constructor(
    readonly service: string,
    readonly kind: FaultDrillKind,
    private readonly logger?: Logger,
  ) {}

  /** True the first time only: the caller's next backend work must fault (e.g. generateUaes' faultDrill). */
  take(what: string): boolean {
    if (this.fired) return false;
    this.fired = true;
    this.logger?.warn({ what }, `fault drill: a real wasm trap now (UAE_FAULT_DRILL=${this.service}:${this.kind})`);
    return true;
  }

  /** Hits the trap here, in this thread's backend, the first time only. */
  trap(what: string): void {
    if (this.take(what)) triggerBackendTrap();
  }
}

/** The drill UAE_FAULT_DRILL arms for `service`, if any. */
export function faultDrillFor(value: string | undefined, service: string, logger?: Logger): FaultDrill | undefined {
  for (const entry of (value ?? '').split(',')) {
    const m = DRILL_ENTRY.exec(entry.trim());
    if (m && m[1] === service) return new FaultDrill(service, m[2] as FaultDrillKind, logger);
  }
  return undefined;
}

function errText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** What a client is told: which backend failed, why, and that the service restarts. */
export function backendFaultMessage(service: string, err: unknown, retry = 'retry the call'): string {
  return `the ${service}'s tfjs backend failed (${errText(err)}); the ${service} restarts with a fresh backend: ${retry}`;
}

/** A backend fault → UNAVAILABLE saying why (a retry on a fresh process will do). */
export function mapBackendFault(service: string): ErrorMapper {
  return (err) => (isBackendFault(err) ? new ServiceError(Status.UNAVAILABLE, backendFaultMessage(service, err)) : undefined);
}

/**
 * The containment (steps 2–3 above) for one service: the returned function
 * turns it NOT_SERVING at once and exits BACKEND_FAULT_EXIT_CODE after the
 * grace period and a graceful shutdown. Only the first fault acts.
 */
export function backendFaultHandler(service: {
  setServing(serving: boolean, reason?: string): void;
  logger: Logger;
  shutdown(reason: string): Promise<void>;
  graceMs?: number;
  exit?: (code: number) => void;
}): (err: unknown, what: string) => void {
  let faulted = false;
  return (err, what) => {
    if (faulted) return;
    faulted = true;
    const reason = `tfjs backend failed during ${what}: ${errText(err)}`;
    service.setServing(false, `${reason}; restarting`);
    service.logger.fatal({ err: reason, exitCode: BACKEND_FAULT_EXIT_CODE }, 'tfjs backend fault: restarting the process');
    const exit = service.exit ?? ((code: number) => process.exit(code));
    setTimeout(() => void service.shutdown('tfjs backend fault').finally(() => exit(BACKEND_FAULT_EXIT_CODE)), service.graceMs ?? BACKEND_FAULT_GRACE_MS);
  };
}

export { isBackendFault };
