/**
 * `npm run down`: stops the local cluster `npm run up` started
 * (.uae/cluster/state.json): the services in reverse start order, then the
 * nats-server — SIGTERM, SIGKILL after the grace period (default 15 s).
 * A pid whose command line is no longer the one recorded is left alone.
 *
 *   npm run down                 # keeps the NATS store (jobs, artifacts) for the next `up`
 *   npm run down -- --purge      # also deletes .uae/cluster/nats and the logs
 *   npm run down -- --grace 5    # seconds before SIGKILL
 */
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { CLUSTER_DIR, readState, STATE_FILE, stopProcess } from './cluster-state.js';

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  let purge = false;
  let graceMs = 15_000;
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--purge') purge = true;
    else if (argv[i] === '--grace') graceMs = Number(argv[++i]) * 1000;
    else {
      console.error(`down: unknown option ${argv[i]} (options: --purge, --grace SECONDS)`);
      process.exit(2);
    }
  }
  const state = readState();
  if (!state) {
    console.log(`down: no cluster state (${STATE_FILE}): nothing to stop`);
    return;
  }
  // Services stop in parallel (each drains its own calls), then NATS.
  await Promise.all(
    [...state.services].reverse().map(async (s) => {
      const how = await stopProcess(s.pid, s.match, graceMs);
      console.log(`${s.name} (pid ${s.pid}) ${how}`);
    }),
  );
  const how = await stopProcess(state.nats.pid, state.nats.match, graceMs);
  console.log(`nats (pid ${state.nats.pid}) ${how}`);
  rmSync(STATE_FILE, { force: true });
  rmSync(join(CLUSTER_DIR, 'token'), { force: true });
  if (purge) {
    rmSync(state.nats.storeDir, { recursive: true, force: true });
    rmSync(join(CLUSTER_DIR, 'logs'), { recursive: true, force: true });
    console.log(`purged ${state.nats.storeDir} and the logs`);
  }
}

main().catch((e: unknown) => {
  console.error(`down: ${e instanceof Error ? e.message : String(e)}`);
  process.exit(1);
});
