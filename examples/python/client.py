#!/usr/bin/env python3
"""A Python client of a running uae system (gRPC, package uae.v1).

Needs only Debian's python3-grpcio and python3-protobuf, and protoc
(protobuf-compiler + libprotobuf-dev for google/protobuf/timestamp.proto).
The message classes are generated at start-up into a temporary directory with

    protoc --python_out=<tmp> -I proto proto/uae/v1/*.proto

and, as there are no grpc_tools stubs, methods are called by path through
channel.unary_unary / unary_stream / stream_unary.

    python3 examples/python/client.py submit --config examples/pipeline-mice.json --watch
    python3 examples/python/client.py upload data/x_train.npy
    python3 examples/python/client.py watch JOB_ID

Server and token: --server / --token, or UAE_SERVER / UAE_AUTH_TOKEN
(default 127.0.0.1:50050, the orchestrator). TLS: --tls-ca FILE (env
UAE_TLS_CA) verifies the server against that CA; --tls-cert / --tls-key
(env UAE_TLS_CLIENT_CERT / UAE_TLS_CLIENT_KEY) present a client certificate
(mTLS); --tls uses the system roots. Exit codes: 0 success, 1 the job
FAILED or was CANCELLED, 2 an error (bad arguments, an RPC error).
"""
import argparse
import glob
import hashlib
import importlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

import grpc
from google.protobuf import json_format

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_PROTO_DIR = os.path.normpath(os.path.join(HERE, "..", "..", "proto"))
CHUNK = 1024 * 1024  # ArtifactService chunk limit: 1 MiB

# google/protobuf/timestamp.proto, for a protoc that ships without the
# well-known types (the Python runtime has its own timestamp_pb2 module).
TIMESTAMP_PROTO = """syntax = "proto3";
package google.protobuf;
message Timestamp { int64 seconds = 1; int32 nanos = 2; }
"""


class Protos:
    """The uae.v1 message modules, generated with protoc into a temporary directory."""

    def __init__(self, proto_dir):
        files = sorted(glob.glob(os.path.join(proto_dir, "uae", "v1", "*.proto")))
        if not files:
            raise SystemExit(f"error: no .proto files under {proto_dir}/uae/v1 (use --proto-dir)")
        protoc = shutil.which("protoc")
        if protoc is None:
            raise SystemExit("error: protoc not found (apt-get install protobuf-compiler)")
        self.tmp = tempfile.mkdtemp(prefix="uae-py-")
        includes = ["-I", proto_dir]
        if not any(os.path.exists(os.path.join(d, "google", "protobuf", "timestamp.proto")) for d in ("/usr/include", "/usr/local/include")):
            wkt = os.path.join(self.tmp, "wkt")
            os.makedirs(os.path.join(wkt, "google", "protobuf"))
            with open(os.path.join(wkt, "google", "protobuf", "timestamp.proto"), "w") as f:
                f.write(TIMESTAMP_PROTO)
            includes += ["-I", wkt]
        out = os.path.join(self.tmp, "gen")
        os.makedirs(out)
        subprocess.run([protoc, f"--python_out={out}", *includes, *files], check=True)
        sys.path.insert(0, out)
        mod = lambda name: importlib.import_module(f"uae.v1.{name}_pb2")
        self.config = mod("config")
        self.job = mod("job")
        self.job_service = mod("job_service")
        self.artifact = mod("artifact")
        self.artifact_service = mod("artifact_service")
        self.results = mod("results")

    def close(self):
        shutil.rmtree(self.tmp, ignore_errors=True)


class Client:
    """JobService and ArtifactService over one channel, by method path."""

    def __init__(self, pb, server, token, timeout=30.0, tls=None):
        self.pb = pb
        options = [("grpc.max_receive_message_length", 64 * 1024 * 1024)]
        if tls is None:
            self.channel = grpc.insecure_channel(server, options=options)
        else:
            read = lambda path: open(path, "rb").read() if path else None
            creds = grpc.ssl_channel_credentials(
                root_certificates=read(tls.get("ca")),
                private_key=read(tls.get("key")),
                certificate_chain=read(tls.get("cert")),
            )
            if tls.get("server_name"):
                options.append(("grpc.ssl_target_name_override", tls["server_name"]))
            self.channel = grpc.secure_channel(server, creds, options=options)
        self.metadata = [("authorization", f"Bearer {token}")] if token else []
        self.timeout = timeout
        js, ars = pb.job_service, pb.artifact_service
        unary = lambda path, req, res: self.channel.unary_unary(
            path, request_serializer=req.SerializeToString, response_deserializer=res.FromString
        )
        self._submit = unary("/uae.v1.JobService/SubmitPipeline", js.SubmitPipelineRequest, js.SubmitPipelineResponse)
        self._get = unary("/uae.v1.JobService/GetJob", js.GetJobRequest, js.GetJobResponse)
        self._cancel = unary("/uae.v1.JobService/CancelJob", js.CancelJobRequest, js.CancelJobResponse)
        self._stat = unary("/uae.v1.ArtifactService/Stat", ars.StatRequest, ars.StatResponse)
        self._watch = self.channel.unary_stream(
            "/uae.v1.JobService/WatchJob",
            request_serializer=js.WatchJobRequest.SerializeToString,
            response_deserializer=js.WatchJobResponse.FromString,
        )
        self._upload = self.channel.stream_unary(
            "/uae.v1.ArtifactService/Upload",
            request_serializer=ars.UploadRequest.SerializeToString,
            response_deserializer=ars.UploadResponse.FromString,
        )
        self._download = self.channel.unary_stream(
            "/uae.v1.ArtifactService/Download",
            request_serializer=ars.DownloadRequest.SerializeToString,
            response_deserializer=ars.DownloadResponse.FromString,
        )

    def close(self):
        self.channel.close()

    def submit(self, config, request_id="", labels=None):
        req = self.pb.job_service.SubmitPipelineRequest(config=config, request_id=request_id, labels=labels or {})
        return self._submit(req, metadata=self.metadata, timeout=self.timeout)

    def get(self, job_id):
        return self._get(self.pb.job_service.GetJobRequest(job_id=job_id), metadata=self.metadata, timeout=self.timeout).job

    def cancel(self, job_id, reason=""):
        req = self.pb.job_service.CancelJobRequest(job_id=job_id, reason=reason)
        return self._cancel(req, metadata=self.metadata, timeout=self.timeout).job

    def watch(self, job_id, after_sequence=0):
        """WatchJobResponse messages: the snapshot, then events until the terminal one."""
        req = self.pb.job_service.WatchJobRequest(job_id=job_id, after_sequence=after_sequence)
        return self._watch(req, metadata=self.metadata)

    def upload(self, path, media_type, name=None):
        """Uploads a file in 1 MiB chunks (header first, with size and SHA-256); returns the UploadResponse."""
        ars = self.pb.artifact_service
        size = os.path.getsize(path)
        digest = hashlib.sha256()
        with open(path, "rb") as f:
            for block in iter(lambda: f.read(CHUNK), b""):
                digest.update(block)
        header = ars.UploadHeader(media_type=media_type, size_bytes=size, sha256=digest.hexdigest(), name=name or os.path.basename(path))

        def requests():
            yield ars.UploadRequest(header=header)
            with open(path, "rb") as f:
                for block in iter(lambda: f.read(CHUNK), b""):
                    yield ars.UploadRequest(chunk=block)

        res = self._upload(requests(), metadata=self.metadata)
        if res.ref.sha256 != digest.hexdigest():
            raise RuntimeError(f"the server stored {res.ref.sha256}, but {path} hashes to {digest.hexdigest()}")
        return res

    def download(self, sha256, path):
        """Downloads an artifact to path, checking its SHA-256; returns its ArtifactRef."""
        req = self.pb.artifact_service.DownloadRequest(sha256=sha256)
        digest, ref = hashlib.sha256(), None
        tmp = f"{path}.partial"
        with open(tmp, "wb") as f:
            for msg in self._download(req, metadata=self.metadata):
                if msg.HasField("ref"):
                    ref = msg.ref
                digest.update(msg.chunk)
                f.write(msg.chunk)
        if ref is None or digest.hexdigest() != ref.sha256:
            os.remove(tmp)
            raise RuntimeError(f"download of {sha256} is corrupt")
        os.replace(tmp, path)
        return ref


# ---------------------------------------------------------------------------
# Pipeline configs


def config_from_json(pb, path):
    """A PipelineConfig (proto3 JSON: camelCase or snake_case names, enum names),
    or a whole SubmitPipelineRequest {"config": …, "requestId": …, "labels": …}."""
    with open(path) as f:
        text = f.read()
    obj = json.loads(text)
    if "config" in obj and "dataset" not in obj:
        req = json_format.Parse(text, pb.job_service.SubmitPipelineRequest())
        return req.config, req.request_id, dict(req.labels)
    return json_format.Parse(text, pb.config.PipelineConfig()), "", {}


def method_from_name(pb, name):
    c = pb.config
    name = name.strip()
    if name.startswith("ga-"):
        return c.AugmentationMethod(kind=c.AUGMENTATION_METHOD_KIND_GAUSSIAN, sigma=float(name[3:]))
    kinds = {"mine": c.AUGMENTATION_METHOD_KIND_MINE, "l2": c.AUGMENTATION_METHOD_KIND_L2, "repeat": c.AUGMENTATION_METHOD_KIND_REPEAT, "none": c.AUGMENTATION_METHOD_KIND_NONE}
    if name not in kinds:
        raise SystemExit(f"error: unknown method {name!r}; use mine, l2, ga-<sigma>, repeat, none")
    return c.AugmentationMethod(kind=kinds[name])


def config_from_args(pb, a, npy=None):
    c = pb.config
    if not a.model or not (a.dataset or npy):
        raise SystemExit("error: give --config FILE, or --dataset (or --npy-dir) and --model")
    cfg = c.PipelineConfig()
    if npy is not None:
        cfg.dataset.npy.CopyFrom(npy)
    else:
        cfg.dataset.name = a.dataset
    cfg.dataset.train_samples = a.train_samples or 0
    cfg.dataset.test_samples = a.test_samples or 0
    cfg.dataset.seed = a.seed
    cfg.model.kind = c.ModelKind.Value("MODEL_KIND_" + a.model.upper().replace("-", "_"))
    cfg.methods.extend(method_from_name(pb, m) for m in a.methods.split(",") if m.strip())
    if a.epochs is not None:
        cfg.train.epochs = a.epochs
    cfg.retrain_epochs = a.retrain_epochs or 0
    if a.iterations is not None:
        cfg.attack.iterations = a.iterations
    if a.mine_steps is not None:
        cfg.attack.mine_steps = a.mine_steps
    if a.mine_draws:
        cfg.attack.similarity.mine.sampler = c.MINE_SAMPLER_RANDOM
        cfg.attack.similarity.mine.draws = a.mine_draws
    if a.classifier_epochs == 0:
        cfg.skip_downstream = True
    elif a.classifier_epochs is not None:
        cfg.downstream.epochs = a.classifier_epochs
    cfg.seed = a.seed
    return cfg


# ---------------------------------------------------------------------------
# Output


def fmt_pct(msg, field):
    return f"{100 * getattr(msg, field):.2f}%" if msg.HasField(field) else ""


def print_metrics(pb, job):
    kind = job.result.WhichOneof("kind")
    if kind != "pipeline":
        print(json_format.MessageToJson(job.result))
        return
    m = job.result.pipeline.metrics
    model = pb.config.ModelKind.Name(m.model).replace("MODEL_KIND_", "").lower().replace("_", "-")
    print(f"{m.dataset}, {model}, backend {m.backend}, seed {m.seed}: {m.train_samples} train / {m.test_samples} test samples")
    rows = [("METHOD", "TEST RECON ERROR", "IMPROVEMENT", "ASR", "ACCURACY", "S/SAMPLE")]
    c = pb.config
    names = {c.AUGMENTATION_METHOD_KIND_MINE: "mine", c.AUGMENTATION_METHOD_KIND_L2: "l2", c.AUGMENTATION_METHOD_KIND_REPEAT: "repeat", c.AUGMENTATION_METHOD_KIND_NONE: "none"}
    arms = [names.get(x.kind, f"ga-{x.sigma:g}") for x in job.spec.pipeline.methods]  # config order
    rank = lambda k: (-1, k) if k == "original" else ((arms.index(k), k) if k in arms else (len(arms), k))
    for name in sorted(m.methods, key=rank):
        x = m.methods[name]
        sps = f"{x.seconds_per_sample:.3f}" if x.HasField("seconds_per_sample") else ""
        rows.append((name, f"{x.test_recon_error:.5f}", fmt_pct(x, "improvement"), fmt_pct(x, "asr"), fmt_pct(x, "accuracy"), sps))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for r in rows:
        print("  ".join(cell.ljust(w) for cell, w in zip(r, widths)).rstrip())


def stage_label(stage):
    return f"[{stage.index + 1}/{stage.count}] {stage.name}" if stage.count else stage.name


def follow(client, pb, job_id, as_json=False, interval=2.0):
    """Watches a job to its end (reconnecting after the last event seen if the
    stream breaks with UNAVAILABLE); prints progress on stderr and the metrics
    on stdout. Returns the exit code: 0 SUCCEEDED, 1 FAILED/CANCELLED."""
    JS = pb.job
    after, last_line, stage, retries = 0, {}, None, 0
    while True:
        try:
            for msg in client.watch(job_id, after_sequence=after):
                if msg.WhichOneof("kind") == "snapshot":
                    j = msg.snapshot
                    if after == 0:
                        after = j.last_event_sequence
                        print(f"job {j.job_id}: {JS.JobState.Name(j.state).replace('JOB_STATE_', '')}", file=sys.stderr)
                    continue
                ev = msg.event
                after = max(after, ev.sequence)
                payload = ev.WhichOneof("payload")
                if payload == "stage":
                    stage = ev.stage.current
                    print(stage_label(stage), file=sys.stderr)
                elif payload == "progress":
                    p, label = ev.progress.progress, stage_label(ev.progress.stage)
                    now = time.monotonic()
                    if now - last_line.get(label, -1e9) >= interval:
                        last_line[label] = now
                        if p.samples_total:
                            eta = f", ETA {p.eta_seconds:.0f}s" if p.HasField("eta_seconds") else ""
                            print(f"{label}: {p.samples_done}/{p.samples_total} samples, {p.samples_per_second:.2f} samples/s{eta}", file=sys.stderr)
                        elif p.epochs_total:
                            print(f"{label}: epoch {p.epochs_done}/{p.epochs_total}", file=sys.stderr)
                elif payload in ("completed", "failed", "cancelled"):
                    break
            break
        except grpc.RpcError as e:
            if e.code() != grpc.StatusCode.UNAVAILABLE or retries >= 8:
                raise
            retries += 1
            time.sleep(min(0.5 * 2 ** retries, 10))
    job = client.get(job_id)
    state = JS.JobState.Name(job.state).replace("JOB_STATE_", "")
    if as_json:
        print(json_format.MessageToJson(job))
    if job.state == JS.JOB_STATE_SUCCEEDED:
        print(f"job {job.job_id} SUCCEEDED", file=sys.stderr)
        if not as_json:
            print_metrics(pb, job)
        return 0
    where = f' in stage "{job.error.stage}"' if job.error.stage else ""
    print(f"job {job.job_id} {state}{where}: {job.error.message or '(no reason given)'}", file=sys.stderr)
    return 1


# ---------------------------------------------------------------------------
# Command line


def main(argv=None):
    ap = argparse.ArgumentParser(description="Python client of a running uae system (JobService, ArtifactService).")
    ap.add_argument("--server", default=os.environ.get("UAE_SERVER") or "127.0.0.1:50050", help="orchestrator host:port (env UAE_SERVER)")
    ap.add_argument("--token", default=os.environ.get("UAE_AUTH_TOKEN"), help="bearer token (env UAE_AUTH_TOKEN)")
    ap.add_argument("--tls", action="store_true", help="use TLS with the system roots")
    ap.add_argument("--tls-ca", default=os.environ.get("UAE_TLS_CA"), help="use TLS, verifying the server against this CA (PEM; env UAE_TLS_CA)")
    ap.add_argument("--tls-cert", default=os.environ.get("UAE_TLS_CLIENT_CERT"), help="client certificate for mTLS (PEM; env UAE_TLS_CLIENT_CERT)")
    ap.add_argument("--tls-key", default=os.environ.get("UAE_TLS_CLIENT_KEY"), help="its private key (PEM; env UAE_TLS_CLIENT_KEY)")
    ap.add_argument("--tls-server-name", default=None, help="the name the server's certificate carries, when it differs from --server's host")
    ap.add_argument("--proto-dir", default=DEFAULT_PROTO_DIR, help="directory holding uae/v1/*.proto (default: the repository's proto/)")
    sub = ap.add_subparsers(dest="command", required=True)

    s = sub.add_parser("submit", help="submit a pipeline job (JobService.SubmitPipeline)")
    s.add_argument("--config", help="PipelineConfig (or SubmitPipelineRequest) as proto3 JSON")
    s.add_argument("--dataset", help="server-side dataset name, e.g. mice-protein")
    s.add_argument("--npy-dir", help="upload DIR/x_train.npy, x_test.npy (and y_*.npy) and use them as the dataset")
    s.add_argument("--model", help="dense-ae, conv-ae, sparse-ae, adversarial-ae, concrete-ae")
    s.add_argument("--methods", default="mine,l2,ga-0.05,ga-0.1,repeat")
    s.add_argument("--train-samples", type=int)
    s.add_argument("--test-samples", type=int)
    s.add_argument("--epochs", type=int)
    s.add_argument("--retrain-epochs", type=int)
    s.add_argument("--classifier-epochs", type=int)
    s.add_argument("--iterations", type=int)
    s.add_argument("--mine-steps", type=int)
    s.add_argument("--mine-draws", type=int)
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--request-id", default="")
    s.add_argument("--label", action="append", default=[], help="KEY=VALUE (repeatable)")
    s.add_argument("--watch", action="store_true", help="follow the job to its end and print its metrics")
    s.add_argument("--json", action="store_true", help="print the final job (or the submit response) as JSON")

    w = sub.add_parser("watch", help="follow a job to its end and print its metrics")
    w.add_argument("job_id")
    w.add_argument("--json", action="store_true")

    g = sub.add_parser("get", help="print a job's record as JSON")
    g.add_argument("job_id")

    c = sub.add_parser("cancel", help="cancel a job")
    c.add_argument("job_id")
    c.add_argument("--reason", default="cancelled from the Python client")

    u = sub.add_parser("upload", help="upload a file (e.g. a dataset .npy) as an artifact; prints its sha256")
    u.add_argument("file")
    u.add_argument("--media-type", default=None, help="default: application/x-npy for .npy, else application/octet-stream")
    u.add_argument("--name", default=None)

    d = sub.add_parser("download", help="download an artifact by sha256")
    d.add_argument("sha256")
    d.add_argument("file")

    a = ap.parse_args(argv)
    pb = Protos(a.proto_dir)
    if bool(a.tls_cert) != bool(a.tls_key):
        print("error: --tls-cert and --tls-key go together", file=sys.stderr)
        return 2
    tls = None
    if a.tls or a.tls_ca or a.tls_cert or a.tls_server_name:
        tls = {"ca": a.tls_ca, "cert": a.tls_cert, "key": a.tls_key, "server_name": a.tls_server_name}
    client = Client(pb, a.server, a.token, tls=tls)
    try:
        if a.command == "submit":
            labels = dict(kv.split("=", 1) for kv in a.label)
            request_id = a.request_id
            if a.config:
                config, rid, file_labels = config_from_json(pb, a.config)
                request_id = request_id or rid
                labels = {**file_labels, **labels}
            else:
                npy = None
                if a.npy_dir:
                    npy = pb.config.NpyDataset()
                    for field in ("x_train", "x_test", "y_train", "y_test"):
                        path = os.path.join(a.npy_dir, f"{field}.npy")
                        if os.path.exists(path):
                            ref = client.upload(path, "application/x-npy").ref
                            getattr(npy, field).CopyFrom(ref)
                            print(f"uploaded {field}.npy: {ref.sha256}", file=sys.stderr)
                config = config_from_args(pb, a, npy)
            res = client.submit(config, request_id, labels)
            if not a.watch:
                print(json_format.MessageToJson(res) if a.json else res.job.job_id)
                return 0
            print(f"submitted job {res.job.job_id}{' (deduplicated)' if res.deduplicated else ''}", file=sys.stderr)
            return follow(client, pb, res.job.job_id, as_json=a.json)
        if a.command == "watch":
            return follow(client, pb, a.job_id, as_json=a.json)
        if a.command == "get":
            print(json_format.MessageToJson(client.get(a.job_id)))
            return 0
        if a.command == "cancel":
            job = client.cancel(a.job_id, a.reason)
            print(f"{job.job_id} {pb.job.JobState.Name(job.state).replace('JOB_STATE_', '')}")
            return 0
        if a.command == "upload":
            media = a.media_type or ("application/x-npy" if a.file.endswith(".npy") else "application/octet-stream")
            res = client.upload(a.file, media, a.name)
            print(f"{'already stored' if res.already_existed else 'uploaded'} {res.ref.name}: {res.ref.size_bytes} bytes {res.ref.media_type}", file=sys.stderr)
            print(res.ref.sha256)
            return 0
        if a.command == "download":
            ref = client.download(a.sha256, a.file)
            print(f"wrote {a.file}: {ref.size_bytes} bytes {ref.media_type}", file=sys.stderr)
            return 0
    except grpc.RpcError as e:
        field = dict(e.trailing_metadata() or ()).get("uae-field")
        print(f"error: {e.code().name}: {e.details()}{f' (field {field})' if field else ''}", file=sys.stderr)
        return 2
    finally:
        client.close()
        pb.close()
    return 2


if __name__ == "__main__":
    sys.exit(main())
