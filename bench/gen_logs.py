#!/usr/bin/env python3
"""Synthetic recorded run for the performance-analysis benchmark (bench/analysis.sh).

Writes OUT/run.json, OUT/spans.jsonl and (with --log-mb > 0) OUT/logs.jsonl, following the
SPEC §4 shapes: log records with timestamp, level, logger, message, trace_id, span_id,
run_id, workflow_id, node_id, plugin_name, attempt, duration_ms, findings_count, success,
error and metadata; spans with OpenTelemetry fields and integer nanosecond times.

The log mix is realistic for a busy run: about 30 % "node completed" lines, the rest
"node queued" / "node started" / "attempt finished" / tool debug output / occasional
retries and failures. Deterministic (seeded).

  bench/gen_logs.py OUT --log-mb 1024 --nodes 1000     # the logs benchmark
  bench/gen_logs.py OUT --log-mb 0 --nodes 100000      # the 100 000-node run
"""
import argparse
import datetime
import heapq
import json
import os
import random

TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
PLUGINS = ["ferox-stub", "nuclei-stub", "cve-stub", "exec"]
TYPES = {"ferox-stub": "discovery.ferox", "nuclei-stub": "scan.nuclei", "cve-stub": "enrich.cve", "exec": "exec"}
BASE = datetime.datetime(2026, 11, 23, 12, 0, 0, tzinfo=datetime.timezone.utc)
BASE_MS = int(BASE.timestamp() * 1000)


def ts(ms):
    t = datetime.datetime.fromtimestamp((BASE_MS + ms) / 1000, tz=datetime.timezone.utc)
    return t.strftime("%Y-%m-%dT%H:%M:%S.") + f"{t.microsecond // 1000:03d}Z"


def schedule(nodes, concurrency, rng):
    """Start/end (ms from run start) of one attempt per node, on `concurrency` slots, and
    its dependency: the node whose end freed the slot (so every edge is consistent)."""
    free = [(0, s, -1) for s in range(concurrency)]
    heapq.heapify(free)
    out = []
    for i in range(nodes):
        at, slot, dep = heapq.heappop(free)
        dur = int(rng.lognormvariate(6.0, 1.0)) + 5
        start = at + rng.randint(0, 3)
        out.append((at, start, start + dur, dep))
        heapq.heappush(free, (start + dur, slot, i))
    return out


def write_run(out, nodes, concurrency, rng, run_id):
    times = schedule(nodes, concurrency, rng)
    end = max(t[2] for t in times) + 5
    with open(os.path.join(out, "run.json"), "w") as f:
        f.write('{"schema_version":1,"run_id":"%s","workflow":{"name":"bench","recipe_path":"bench/none.yaml",'
                '"recipe_sha256":"%s"},"status":"succeeded","exit_code":0,"started_at":"%s","ended_at":"%s",'
                '"duration_ms":%d,"executor":"local","concurrency":%d,"vars":{},"resumed_from":null,'
                '"trace_id":"%s","pid":4242,"host":"bench","nodes":[' % (
                    run_id, "0" * 64, ts(0), ts(end), end, concurrency, TRACE))
        findings_total = 0
        for i, (q, s, e, dep) in enumerate(times):
            plugin = PLUGINS[i % len(PLUGINS)]
            findings = i % 7
            findings_total += findings
            f.write(('' if i == 0 else ',') +
                    '{"node_id":"n%06d","type":"%s","plugin_name":"%s","depends_on":[%s],"status":"succeeded","reason":null,'
                    '"findings_count":%d,"outputs":{},"cache_key":null,"attempts":[{"attempt":1,"status":"succeeded",'
                    '"exit_code":0,"signal":null,"queued_at":"%s","started_at":"%s","ended_at":"%s","queue_wait_ms":%d,'
                    '"duration_ms":%d,"cpu_user_ms":%d,"cpu_system_ms":%d,"peak_rss_bytes":%d,"retry_delay_ms":null,'
                    '"executor_job_id":null}]}' % (
                        i, TYPES[plugin], plugin, '"n%06d"' % dep if dep >= 0 else "", findings, ts(q), ts(s), ts(e), s - q, e - s,
                        (e - s) * 6 // 10, (e - s) // 20, 20_000_000 + (i % 50) * 1_000_000))
        f.write('],"counts":{"succeeded":%d,"failed":0,"skipped":0,"cached":0,"cancelled":0,"timed_out":0},'
                '"findings_count":%d,"telemetry":{"torn_lines":0}}\n' % (nodes, findings_total))
    with open(os.path.join(out, "spans.jsonl"), "w") as f:
        res = '"resource":{"service.name":"secflow","service.version":"0.1.0"}'
        f.write('{"schema_version":1,"trace_id":"%s","span_id":"%016x","parent_span_id":null,"name":"workflow bench","kind":"internal",'
                '"start_time_unix_nano":%d,"end_time_unix_nano":%d,"attributes":{"secflow.run.id":"%s"},"events":[],'
                '"status":{"code":"ok","message":""},%s}\n' % (TRACE, 1, BASE_MS * 10**6, (BASE_MS + end) * 10**6, run_id, res))
        buf = []
        for i, (q, s, e, _) in enumerate(times):
            node_span, att_span = 2 * i + 2, 2 * i + 3
            for span, parent, name, a, b, attrs in (
                (node_span, 1, "node n%06d" % i, q, e, '"secflow.node.id":"n%06d","secflow.node.status":"succeeded"' % i),
                (att_span, node_span, "attempt n%06d#1" % i, s, e,
                 '"secflow.node.id":"n%06d","secflow.attempt":1,"process.exit_code":0' % i),
            ):
                buf.append('{"schema_version":1,"trace_id":"%s","span_id":"%016x","parent_span_id":"%016x","name":"%s","kind":"internal",'
                           '"start_time_unix_nano":%d,"end_time_unix_nano":%d,"attributes":{%s},"events":[],'
                           '"status":{"code":"ok","message":""},%s}\n' % (
                               TRACE, span, parent, name, (BASE_MS + a) * 10**6, (BASE_MS + b) * 10**6, attrs, res))
            if len(buf) >= 10000:
                f.write("".join(buf))
                buf.clear()
        f.write("".join(buf))
    return end


def write_logs(out, target_bytes, nodes, run_id, rng):
    head = '{"schema_version":1,"timestamp":"%s","level":"%s","logger":"secflow::engine","message":"%s","trace_id":"' + TRACE + \
        '","span_id":"%016x","run_id":"' + run_id + '","workflow_id":"bench","node_id":"%s","plugin_name":"%s"'
    written = 0
    completed = 0
    lines = 0
    ms = 0
    chunk = []
    size = 0
    with open(os.path.join(out, "logs.jsonl"), "w") as f:
        while written < target_bytes:
            ms += rng.randint(0, 3)
            i = rng.randrange(nodes)
            node = "n%06d" % i
            plugin = PLUGINS[i % len(PLUGINS)]
            r = rng.random()
            t = ts(ms)
            span = rng.getrandbits(63)
            if r < 0.30:
                dur = int(rng.lognormvariate(6.0, 1.0)) + 5
                line = (head % (t, "INFO", "node completed", span, node, plugin)) + \
                    ',"attempt":1,"duration_ms":%d,"findings_count":%d,"success":true}\n' % (dur, rng.randrange(20))
                completed += 1
            elif r < 0.45:
                line = (head % (t, "INFO", "node started", span, node, plugin)) + \
                    ',"attempt":1,"metadata":{"pid":%d,"executor_job_id":null}}\n' % rng.randrange(1000, 99999)
            elif r < 0.60:
                line = (head % (t, "INFO", "attempt finished", span, node, plugin)) + \
                    ',"attempt":1,"duration_ms":%d,"success":true,"metadata":{"exit_code":0,"cpu_user_ms":%d,' \
                    '"cpu_system_ms":%d,"peak_rss_bytes":%d,"queue_wait_ms":%d}}\n' % (
                        rng.randrange(5000), rng.randrange(4000), rng.randrange(400),
                        rng.randrange(10**7, 10**9), rng.randrange(50))
            elif r < 0.70:
                line = (head % (t, "DEBUG", "node queued", span, node, plugin)) + ',"attempt":1}\n'
            elif r < 0.97:
                line = (head % (t, "DEBUG", "tool output", span, node, plugin)) + \
                    ',"attempt":1,"metadata":{"stream":"stderr","line":"[INF] scanned %d/%d targets, %d requests/s (template http/tech-detect.yaml)"}}\n' % (
                        rng.randrange(1000), 1000, rng.randrange(500))
            elif r < 0.99:
                line = (head % (t, "WARN", "node retrying", span, node, plugin)) + \
                    ',"attempt":1,"error":{"type":"failed","message":"exit code 1: connection reset by peer"},' \
                    '"metadata":{"next_attempt":2,"delay_ms":%d}}\n' % rng.randrange(1000, 5000)
            else:
                line = (head % (t, "ERROR", "node failed", span, node, plugin)) + \
                    ',"attempt":3,"success":false,"error":{"type":"timed_out","message":"timed out after 300s"}}\n'
            chunk.append(line)
            size += len(line)
            lines += 1
            if size >= 1 << 22:
                f.write("".join(chunk))
                written += size
                chunk.clear()
                size = 0
        f.write("".join(chunk))
        written += size
    return written, lines, completed


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("out")
    p.add_argument("--log-mb", type=float, default=1024)
    p.add_argument("--nodes", type=int, default=1000)
    p.add_argument("--concurrency", type=int, default=8)
    p.add_argument("--seed", type=int, default=42)
    a = p.parse_args()
    os.makedirs(a.out, exist_ok=True)
    rng = random.Random(a.seed)
    run_id = "01JDBENCH" + "0" * 16 + "1"
    write_run(a.out, a.nodes, a.concurrency, rng, run_id)
    if a.log_mb > 0:
        size, lines, completed = write_logs(a.out, int(a.log_mb * (1 << 20)), a.nodes, run_id, rng)
        print(json.dumps({"logs_bytes": size, "lines": lines, "node_completed": completed,
                          "share": round(completed / max(lines, 1), 3)}))
    else:
        log = os.path.join(a.out, "logs.jsonl")
        if os.path.exists(log):
            os.remove(log)
    print(json.dumps({"nodes": a.nodes, "run_json_bytes": os.path.getsize(os.path.join(a.out, "run.json")),
                      "spans_bytes": os.path.getsize(os.path.join(a.out, "spans.jsonl"))}))


if __name__ == "__main__":
    main()
