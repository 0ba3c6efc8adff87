#!/usr/bin/env bash
# The corrupted-records matrix (issue 24): one real run, ~45 hostile variants of it (truncated,
# torn, FIFO, device, huge line, huge name, control characters, wrong types, u64::MAX, missing
# files, symlinks, NUL bytes, a reused pid, another host), and every read command on each
# (`runs list`, `runs show`, `logs`, `logs --follow`, `metrics`, `analyze`, `audit verify`,
# `export` to a dead endpoint) under a time limit, with its wall time and peak RSS.
#
# Usage: bench/hostile_records.sh [SECFLOW_BINARY]   (default target/debug/secflow)
# Prints one line per failing cell and a summary: cells, hangs (killed at the limit), panics,
# the slowest cell and the largest peak RSS. Exits 1 if any cell hangs, panics or exceeds
# 2 s / 100 MB (--follow: 5 s, as it waits 3 s for a run it cannot tell about before saying
# so), except the legitimately large inputs, marked `large` (printed, to check they stay
# linear).
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
bin=${1:-$here/target/debug/secflow}
bin=$(cd "$(dirname "$bin")" && pwd)/$(basename "$bin")
work=$(mktemp -d /tmp/hostile-records.XXXXXX)
trap 'rm -rf "$work"' EXIT
export BIN=$bin WORK=$work
exec python3 - "$@" <<'PY'
import json, os, shutil, subprocess, sys, time, socket

BIN, WORK = os.environ["BIN"], os.environ["WORK"]
LIMIT = 10.0          # a cell still running after this is a hang
FOLLOW_LIMIT = 10.0
LARGE_LIMIT = 30.0    # 100 MB inputs in a debug build: linear, but not 2 s

# --- one real run ------------------------------------------------------------------------
base = os.path.join(WORK, "base")
os.makedirs(base)
with open(os.path.join(base, "r.yaml"), "w") as f:
    f.write('version: "1.0"\nname: hostile-base\nnodes:\n'
            '  - { id: scan, run: "echo found; echo oops >&2" }\n'
            '  - { id: fail, run: "echo broken >&2; exit 3", depends_on: [scan] }\n')
subprocess.run([BIN, "run-workflow", "--progress", "never", "r.yaml"], cwd=base,
               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
runs = os.path.join(base, ".secflow", "runs")
run_id = sorted(os.listdir(runs))[-1]

def dead_port():
    s = socket.socket(); s.bind(("127.0.0.1", 0)); p = s.getsockname()[1]; s.close(); return p

# --- variants ----------------------------------------------------------------------------
def rj(d):
    return os.path.join(d, "run.json")

def edit_run(fn):
    def apply(d):
        rec = json.load(open(rj(d)))
        fn(rec)
        with open(rj(d), "w") as f:
            json.dump(rec, f)
    return apply

def replace(name, content):
    def apply(d):
        p = os.path.join(d, name)
        if os.path.lexists(p):
            os.remove(p)
        if content is not None:
            with open(p, "wb") as f:
                f.write(content)
    return apply

def fifo(name):
    def apply(d):
        p = os.path.join(d, name)
        if os.path.lexists(p):
            os.remove(p)
        os.mkfifo(p)
    return apply

def link(name, target):
    def apply(d):
        p = os.path.join(d, name)
        if os.path.lexists(p):
            os.remove(p)
        os.symlink(target, p)
    return apply

def truncate(name, frac):
    def apply(d):
        p = os.path.join(d, name)
        data = open(p, "rb").read()
        open(p, "wb").write(data[: int(len(data) * frac)])
    return apply

def append(name, data):
    def apply(d):
        with open(os.path.join(d, name), "ab") as f:
            f.write(data)
    return apply

def insert_line(name, line):
    def apply(d):
        p = os.path.join(d, name)
        lines = open(p, "rb").read().split(b"\n")
        lines.insert(1, line)
        open(p, "wb").write(b"\n".join(lines))
    return apply

ESC = "x\x1b[2J\x1b]0;PWNED\x07\r\nFAKE run succeeded"

def set_name(v):
    return edit_run(lambda r: r["workflow"].__setitem__("name", v))

def u64max(r):
    M = 2**64 - 1
    r["duration_ms"] = M; r["findings_count"] = M
    for k in r["counts"]:
        r["counts"][k] = M
    for n in r["nodes"]:
        n["findings_count"] = M
        for a in n["attempts"]:
            for k in ("duration_ms", "cpu_user_ms", "cpu_system_ms", "queue_wait_ms", "peak_rss_bytes"):
                a[k] = M

def running(pid, host=None, started="2020-01-01T00:00:00.000Z"):
    def fn(r):
        r["status"] = "running"; r["pid"] = pid; r["started_at"] = started
        r["ended_at"] = None
        if host:
            r["host"] = host
    return edit_run(fn)

def big_line(msg_bytes):
    rec = {"schema_version": 1, "timestamp": "2026-11-23T12:00:00.000Z", "level": "INFO",
           "logger": "x", "message": "a" * msg_bytes}
    return (json.dumps(rec) + "\n").encode()

def node_id(v):
    return edit_run(lambda r: r["nodes"][0].__setitem__("node_id", v))

V = [
    ("intact", [], False),
    ("run.json truncated", [truncate("run.json", 0.5)], False),
    ("run.json empty", [replace("run.json", b"")], False),
    ("run.json missing", [replace("run.json", None)], False),
    ("run.json FIFO", [fifo("run.json")], False),
    ("run.json -> /dev/zero", [link("run.json", "/dev/zero")], False),
    ("run.json -> dangling", [link("run.json", "/nonexistent/run.json")], False),
    ("run.json NUL bytes", [replace("run.json", b"{\"run_id\":\"\x00\x00\"}\x00\n")], False),
    ("run.json wrong types", [edit_run(lambda r: r.update(status=5, nodes="x", pid="p"))], False),
    ("run.json array", [replace("run.json", b"[1,2,3]\n")], False),
    ("run.json deep nesting", [replace("run.json", b"[" * 100000 + b"]" * 100000)], False),
    ("name control chars", [set_name(ESC)], False),
    ("node id control chars", [node_id("sc\nan\x1b[31m")], False),
    ("node id path", [node_id("../../../../etc")], False),
    ("name 4 MiB", [set_name("n" * (4 << 20))], False),
    ("name 50 MiB", [set_name("n" * (50 << 20))], True),
    ("u64::MAX figures", [edit_run(u64max)], False),
    ("running, pid reused", [running(1)], False),
    ("running, other host", [running(1, "elsewhere.example")], False),
    ("recipe_path FIFO", [fifo("recipe.fifo"), edit_run(lambda r: r["workflow"].__setitem__("recipe_path", "RUNDIR/recipe.fifo"))], False),
    ("recipe_path /dev/zero", [edit_run(lambda r: r["workflow"].__setitem__("recipe_path", "/dev/zero"))], False),
    ("logs torn 16 MiB", [append("logs.jsonl", b'{"message":"node completed","x":"' + b"a" * (16 << 20))], True),
    ("logs torn 100 MiB", [append("logs.jsonl", b'{"message":"node completed","x":"' + b"a" * (100 << 20))], True),
    ("logs 100 MB line", [append("logs.jsonl", big_line(100_000_000))], True),
    ("logs garbage line", [insert_line("logs.jsonl", b"garbage \x1b[2J not json")], False),
    ("logs NUL bytes", [insert_line("logs.jsonl", b"\x00\x00\x00{\"a\":1}")], False),
    ("logs control chars", [insert_line("logs.jsonl", json.dumps({"schema_version": 1, "timestamp": "2026-11-23T12:00:00.000Z", "level": "INFO", "logger": "x", "message": ESC, "node_id": ESC}).encode())], False),
    ("logs wrong types", [insert_line("logs.jsonl", b'{"level": 7, "message": [1], "attempt": "x"}')], False),
    ("logs FIFO", [fifo("logs.jsonl")], False),
    ("logs -> /dev/zero", [link("logs.jsonl", "/dev/zero")], False),
    ("logs missing", [replace("logs.jsonl", None)], False),
    ("spans FIFO", [fifo("spans.jsonl")], False),
    ("spans torn", [truncate("spans.jsonl", 0.7)], False),
    ("spans garbage line", [insert_line("spans.jsonl", b"{not a span")], False),
    ("spans wrong types", [insert_line("spans.jsonl", b'{"trace_id": 1, "start_time_unix_nano": "x"}')], False),
    ("audit FIFO", [fifo("audit.jsonl")], False),
    ("audit truncated", [truncate("audit.jsonl", 0.6)], False),
    ("audit garbage line", [insert_line("audit.jsonl", b"garbage")], False),
    ("audit missing", [replace("audit.jsonl", None)], False),
    ("audit 100 MB line", [insert_line("audit.jsonl", big_line(100_000_000)[:-1])], True),
    ("metrics.json FIFO", [fifo("metrics.json")], False),
    ("metrics.json corrupt", [replace("metrics.json", b"{\"series\": [")], False),
    ("metrics both missing", [replace("metrics.json", None), replace("metrics.jsonl", None)], False),
    ("metrics.jsonl FIFO", [replace("metrics.json", None), fifo("metrics.jsonl")], False),
    ("stderr.log FIFO", [fifo("nodes/fail/1/stderr.log")], False),
    ("nodes -> /etc", [lambda d: shutil.rmtree(os.path.join(d, "nodes")), link("nodes", "/etc")], False),
]

DEAD = "http://127.0.0.1:%d" % dead_port()
CMDS = [
    ("runs list", lambda run: ["runs", "list"]),
    ("runs show", lambda run: ["runs", "show", run]),
    ("logs", lambda run: ["logs", run]),
    ("logs --follow", lambda run: ["logs", run, "--follow"]),
    ("metrics", lambda run: ["metrics", run]),
    ("analyze", lambda run: ["analyze", run, "--format", "table"]),
    ("audit verify", lambda run: ["audit", "verify", run]),
    ("export", lambda run: ["export", run, "--otlp-endpoint", DEAD]),
]

# Runs one cell; its peak RSS comes from /usr/bin/time.
def run_measured(state, argv, limit):
    env = dict(os.environ, SECFLOW_HOME=state, NO_COLOR="1", OTEL_EXPORTER_OTLP_TIMEOUT="1000")
    t = time.monotonic()
    outp, errp = os.path.join(WORK, "out"), os.path.join(WORK, "err")
    rssp = os.path.join(WORK, "rss")
    with open(outp, "wb") as o, open(errp, "wb") as e:
        # /usr/bin/time measures the command alone (wait4 on a child forked from this big
        # Python process would count the parent's pages too).
        p = subprocess.Popen(["/usr/bin/time", "-f", "%M", "-o", rssp, BIN] + argv, stdout=o,
                             stderr=e, stdin=subprocess.DEVNULL, env=env, cwd=state)
        hung = False
        while p.poll() is None:
            if time.monotonic() - t > limit:
                # Kill time's child (the command, which this script started), then time.
                subprocess.run(["pkill", "-KILL", "-P", str(p.pid)])
                p.kill()
                hung = True
                break
            time.sleep(0.01)
        p.wait()
    wall = time.monotonic() - t
    code = p.returncode
    err = open(errp, "rb").read()
    out = open(outp, "rb").read(1 << 20)
    try:
        rss = int(open(rssp).read().split()[-1]) * 1024
    except (OSError, ValueError, IndexError):
        rss = 0
    return code, wall, rss, out, err, hung

cells = hangs = panics = over = 0
slowest = (0, "")
fattest = (0, "")
slowest_small = (0, "")
fattest_small = (0, "")
fails = []
for name, steps, large in V:
    state = os.path.join(WORK, "v", name.replace(" ", "_").replace("/", "_"))
    shutil.copytree(os.path.join(base, ".secflow"), os.path.join(state), symlinks=True)
    d = os.path.join(state, "runs", run_id)
    for step in steps:
        step(d)
    if os.path.exists(rj(d)) and os.path.isfile(rj(d)):
        try:
            txt = open(rj(d), "rb").read().replace(b"RUNDIR", d.encode())
            open(rj(d), "wb").write(txt)
        except OSError:
            pass
    for cname, argv in CMDS:
        limit = FOLLOW_LIMIT if "follow" in cname else LIMIT
        if large:
            limit = LARGE_LIMIT
        code, wall, rss, out, err, hung = run_measured(state, argv(d), limit)
        cells += 1
        label = f"{name} / {cname}"
        if wall > slowest[0]:
            slowest = (wall, f"{label} ({rss / 2**20:.0f} MB)")
        if rss > fattest[0]:
            fattest = (rss, f"{label} ({wall:.2f} s)")
        if not large:
            if wall > slowest_small[0]:
                slowest_small = (wall, f"{label} ({rss / 2**20:.0f} MB)")
            if rss > fattest_small[0]:
                fattest_small = (rss, f"{label} ({wall:.2f} s)")
        problem = []
        if hung:
            hangs += 1; problem.append("HANG")
        if b"panicked" in err or code == 101:
            panics += 1; problem.append("PANIC")
        if b"\x1b" in out + err:
            problem.append("RAW ESC")
        # --follow waits up to 3 s for a run whose state it cannot tell, then says why.
        budget = 2.0 + (3.0 if "follow" in cname else 0.0)
        if not large and not hung and (wall > budget or rss > 100 * 2**20):
            over += 1; problem.append("SLOW/BIG")
        if large:
            print(f"large: {label}: exit {code}, {wall:.2f} s, {rss / 2**20:.0f} MB")
        if problem:
            fails.append(f"{label}: {' '.join(problem)} exit {code}, {wall:.2f} s, {rss / 2**20:.0f} MB: {err[:200]!r}")
for f in fails:
    print(f)
print(f"variants {len(V)} x commands {len(CMDS)} = {cells} cells; hangs {hangs}, panics {panics}, over 2 s/100 MB {over}")
print(f"slowest: {slowest[1]} {slowest[0]:.2f} s")
print(f"largest peak RSS: {fattest[1]} {fattest[0] / 2**20:.0f} MB")
print(f"not large: slowest {slowest_small[1]} {slowest_small[0]:.2f} s; "
      f"largest peak RSS {fattest_small[1]} {fattest_small[0] / 2**20:.0f} MB")
sys.exit(1 if fails else 0)
PY
