#!/usr/bin/env python3
"""Check jobs end to end through NATS JetStream, with the durable ledger.

Starts a private nats-server 2.15 (.tools/nats, or CAIRN_NATS_SERVER), cairn-scheduler and
W cairn-dump-worker processes (each --concurrency 4), queues N `check` jobs (preflight
only, against this machine's PostgreSQL) through the HTTP API, waits for all to end, and
prints jobs/s (first queued to last ended), claim latency p50/p99 (JobQueued -> JobClaimed,
from the ledger's event times) and ledger events per job. Runs with 1 and 4 workers.

    cargo build --release -p cairn --bins
    bench/nats_checks.py [N] [--bin-dir target/release]
"""
import json, os, shutil, signal, socket, subprocess, sys, tempfile, time, urllib.request
from datetime import datetime

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
N = int(next((a for a in sys.argv[1:] if a.isdigit()), "300"))
BIN = sys.argv[sys.argv.index("--bin-dir") + 1] if "--bin-dir" in sys.argv else os.path.join(ROOT, "target/release")
NATS = os.environ.get("CAIRN_NATS_SERVER", os.path.join(ROOT, ".tools/nats/bin/nats-server"))
PG = os.environ.get("CAIRN_BENCH_PG", "postgres://postgres@127.0.0.1:5432/postgres")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port, deadline=30):
    end = time.time() + deadline
    while time.time() < end:
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    sys.exit(f"nothing listens on {port}")


def ts(s):
    """RFC 3339 UTC with up to nanoseconds -> seconds since the epoch."""
    base, _, frac = s.rstrip("Z").partition(".")
    return datetime.fromisoformat(base + "+00:00").timestamp() + float("0." + (frac or "0"))


def run(workers):
    tmp = tempfile.mkdtemp(prefix="cairn-bench-nats-")
    procs = []
    try:
        nport, hport = free_port(), free_port()
        log = open(os.path.join(tmp, "log"), "w")
        procs.append(subprocess.Popen([NATS, "-a", "127.0.0.1", "-p", str(nport), "-js", "-sd", os.path.join(tmp, "js")], stdout=log, stderr=log, start_new_session=True))
        wait_port(nport)
        url = f"nats://127.0.0.1:{nport}"
        env = dict(os.environ, RUST_LOG="warn")
        procs.append(subprocess.Popen([os.path.join(BIN, "cairn-scheduler"), "--data-dir", os.path.join(tmp, "data"), "--listen", f"127.0.0.1:{hport}", "--nats", url], stdout=log, stderr=log, env=env, start_new_session=True))
        wait_port(hport)
        token_file = os.path.join(tmp, "data", "admin.token")
        while not os.path.exists(token_file):
            time.sleep(0.05)
        token = open(token_file).read().strip()
        api = f"http://127.0.0.1:{hport}/v1"

        def call(method, path, body=None):
            req = urllib.request.Request(api + path, method=method, data=json.dumps(body).encode() if body is not None else None, headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
            with urllib.request.urlopen(req) as r:
                return json.load(r)

        call("POST", "/targets", {"name": "bench", "url": PG})
        for i in range(workers):
            wenv = dict(env, CAIRN_TOKEN=token)
            procs.append(subprocess.Popen([os.path.join(BIN, "cairn-dump-worker"), "--nats", url, "--id", f"dump-{i}", "--concurrency", "4", "--secret-key-file", os.path.join(tmp, "data", "secret.key"), "--work-dir", os.path.join(tmp, f"w{i}")], stdout=log, stderr=log, env=wenv, start_new_session=True))
        ids = [call("POST", "/checks", {"target": "bench"})["job_id"] for _ in range(N)]
        pending = set(ids)
        views = {}
        while pending:
            for j in list(pending):
                v = call("GET", f"/jobs/{j}")
                if v["state"]["status"] in ("succeeded", "failed", "cancelled"):
                    views[j] = v
                    pending.discard(j)
            time.sleep(0.2)
        ok = sum(1 for v in views.values() if v["state"]["status"] == "succeeded")
        queued, claimed, ended, events = [], [], [], 0
        for v in views.values():
            evs = v["events"]
            events += len(evs)
            q = next(ts(e["at"]) for e in evs if e["type"] == "JobQueued")
            c = next((ts(e["at"]) for e in evs if e["type"] == "JobClaimed"), None)
            queued.append(q)
            ended.append(ts(evs[-1]["at"]))
            if c is not None:
                claimed.append(c - q)
        claimed.sort()
        span = max(ended) - min(queued)
        p = lambda q: claimed[min(len(claimed) - 1, int(q * len(claimed)))] * 1000
        print(f"workers={workers} jobs={N} succeeded={ok} jobs/s={N / span:.1f} "
              f"claim_latency_p50={p(0.50):.0f}ms p99={p(0.99):.0f}ms events/job={events / N:.2f}")
    finally:
        for pr in reversed(procs):
            try:
                os.killpg(pr.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        for pr in procs:
            try:
                pr.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(pr.pid, signal.SIGKILL)
        shutil.rmtree(tmp, ignore_errors=True)


for w in (1, 4):
    run(w)
