/**
 * Worker-thread entry: one backend instance attacking shards, one at a time.
 * The thread stays alive between shards (an AttackPool reuses it), so the
 * backend is initialised once; the model (autoencoder, classifier or SimCLR) is rebuilt
 * per shard from artifacts.
 */
import { parentPort } from 'node:worker_threads';
import { initBackend, isBackendFault, triggerBackendTrap } from '../tensor/index.js';
import { classifierFromArtifacts, fromArtifacts, simclrFromArtifacts } from '../models/index.js';
import { runAttack } from './engine.js';
import { AttackCancelledError } from './minmax.js';
import type { WorkerReply, WorkerRequest } from './worker-protocol.js';

const port = parentPort;
if (!port) throw new Error('libs/attack/worker must run in a worker thread');
let controller: AbortController | undefined;
const reply = (msg: WorkerReply) => port.postMessage(msg);

port.on('message', (msg: WorkerRequest) => {
  if (msg.type === 'cancel') {
    controller?.abort(new Error('cancelled by the caller'));
    return;
  }
  const run = new AbortController();
  controller = run;
  void (async () => {
    try {
      const info = await initBackend(msg.backend);
      const portable = msg.model;
      const model =
        portable.kind === 'classifier'
          ? await classifierFromArtifacts(portable.artifacts)
          : portable.kind === 'simclr'
            ? await simclrFromArtifacts(portable.artifacts)
            : await fromArtifacts(portable.artifacts);
      reply({ type: 'ready', backend: info.name });
      if (msg.faultDrill) triggerBackendTrap();
      try {
        await runAttack(model, msg.input, msg.config, {
          signal: run.signal,
          chunkSize: msg.chunkSize,
          onProgress: (p, finished) =>
            reply(finished.length > 0 ? { type: 'chunk', results: finished } : { type: 'progress', fraction: p.fraction }),
        });
      } finally {
        model.dispose();
      }
      reply({ type: 'done' });
    } catch (e) {
      reply({ type: 'error', message: e instanceof Error ? e.message : String(e), cancelled: e instanceof AttackCancelledError, fault: isBackendFault(e) });
    } finally {
      if (controller === run) controller = undefined;
    }
  })();
});
