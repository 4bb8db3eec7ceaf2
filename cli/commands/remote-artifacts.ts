/**
 * `uae artifacts put|get|stat`: the content-addressed artifact store of a
 * running system (ArtifactService). Artifacts are keyed by the SHA-256 of
 * their bytes: `put` prints it, `get` and `stat` take it.
 *
 *   uae artifacts put x_train.npy data/x_train.npy      → 3f5a…  (the sha256)
 *   uae artifacts get 3f5a… out.npy
 *   uae artifacts stat 3f5a… --json
 */
import { Command } from 'commander';
import { mediaTypeFor } from '../../libs/client/index.js';
import { v1 } from '../../libs/proto/index.js';
import { addRemoteOptions, processIO, withClient, type RemoteIO } from './remote-common.js';

/** "sha256:<hex>" or "<hex>" → the hex digest. */
export function artifactKey(key: string): string {
  const hex = key.replace(/^sha256:/, '').toLowerCase();
  if (!/^[0-9a-f]{64}$/.test(hex)) throw new Error(`artifact key must be a SHA-256 (64 hex characters, optionally "sha256:"-prefixed); got "${key}"`);
  return hex;
}

const mib = (n: number) => `${(n / 1024 / 1024).toFixed(n < 1024 * 1024 ? 3 : 1)} MiB`;

export function remoteArtifactsCommand(io: RemoteIO = processIO()): Command {
  const artifacts = new Command('artifacts').description('upload, download and inspect artifacts (datasets, models, results) of a running system');

  const put = new Command('put')
    .description('upload FILE in ≤ 1 MiB chunks, stored under its SHA-256 with KEY as its name; prints the sha256')
    .argument('<key>', 'the name to record (e.g. x_train.npy)')
    .argument('<file>', 'the file to upload')
    .option('--media-type <type>', 'media type (default from the extension: .npy application/x-npy, .json application/json, else application/octet-stream)')
    .option('--json', 'print the UploadResponse as JSON')
    .option('--quiet', 'no note on stderr, only the sha256 on stdout');
  addRemoteOptions(put);
  put.action(async (key: string, file: string, o: { mediaType?: string; json?: boolean; quiet?: boolean }) => {
    await withClient(put, io, async (client) => {
      const started = Date.now();
      const res = await client.artifacts.putFile(file, { name: key, mediaType: o.mediaType ?? mediaTypeFor(file), deadlineMs: 0 });
      const ref = res.ref!;
      if (o.json) {
        io.out.write(JSON.stringify(v1.UploadResponse.toJSON(res), null, 2) + '\n');
        return;
      }
      if (!o.quiet) io.err.write(`${res.alreadyExisted ? 'already stored' : 'uploaded'} ${key}: ${mib(ref.sizeBytes)} ${ref.mediaType} in ${((Date.now() - started) / 1000).toFixed(1)}s\n`);
      io.out.write(`${ref.sha256}\n`);
    });
  });

  const get = new Command('get')
    .description("download an artifact to FILE ('-' for stdout), checked against its SHA-256")
    .argument('<key>', 'the sha256')
    .argument('<file>', "where to write it ('-': stdout)")
    .option('--quiet', 'no note on stderr');
  addRemoteOptions(get);
  get.action(async (key: string, file: string, o: { quiet?: boolean }) => {
    const sha256 = artifactKey(key);
    await withClient(get, io, async (client) => {
      if (file === '-') {
        io.out.write(await client.artifacts.get(sha256, { deadlineMs: 0 }));
        return;
      }
      const ref = await client.artifacts.getToFile(sha256, file, { deadlineMs: 0 });
      if (!o.quiet) io.err.write(`wrote ${file}: ${mib(ref.sizeBytes)} ${ref.mediaType}${ref.name ? ` (${ref.name})` : ''}\n`);
    });
  });

  const stat = new Command('stat')
    .description("an artifact's size, media type, name and creation time")
    .argument('<key>', 'the sha256')
    .option('--json', 'print the StatResponse as JSON')
    .option('--quiet', 'accepted as on every command; stat writes no notes on stderr (only errors), so it changes nothing');
  addRemoteOptions(stat);
  stat.action(async (key: string, o: { json?: boolean }) => {
    const sha256 = artifactKey(key);
    await withClient(stat, io, async (client) => {
      const res = await client.artifacts.stat(sha256);
      if (o.json) {
        io.out.write(JSON.stringify(v1.StatResponse.toJSON(res), null, 2) + '\n');
        return;
      }
      const ref = res.ref!;
      io.out.write(
        [
          `sha256      ${ref.sha256}`,
          `size        ${ref.sizeBytes} bytes`,
          `media type  ${ref.mediaType}`,
          `name        ${ref.name}`,
          `created     ${res.createdAt ? res.createdAt.toISOString() : ''}`,
        ].join('\n') + '\n',
      );
    });
  });

  return artifacts.addCommand(put).addCommand(get).addCommand(stat);
}
