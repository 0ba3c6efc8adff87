#!/usr/bin/env python3
"""Independent verifier of a secflow audit chain, from SPEC section 4 alone.

Usage: verify_audit.py AUDIT_JSONL [RUN_JSON]   (key in SECFLOW_AUDIT_KEY, hex or base64)

hash   = hex(HMAC-SHA256(key, ascii(prev_hash) || canonical_json(event without "hash")))
anchor = hex(HMAC-SHA256(key, "anchor" || run_id || decimal(events) || last_hash))
cut    = hex(HMAC-SHA256(key, "cut" || run_id || decimal(events) || last_hash))
         (run.json's audit.cut when a record write error stopped the chain: unfinished)
canonical JSON: compact UTF-8, keys sorted, integers only.

Exit 0 intact and finished, 1 tampered, 2 usage error or wrong key, 3 unfinished.
Standard library only.
"""
import base64
import binascii
import hashlib
import hmac
import json
import os
import sys

TERMINAL = {"workflow.run.completed", "workflow.run.failed", "workflow.run.cancelled"}


def load_key():
    text = os.environ.get("SECFLOW_AUDIT_KEY", "").strip()
    try:
        return bytes.fromhex(text)
    except ValueError:
        pass
    try:
        text = text.rstrip("=").replace("-", "+").replace("_", "/")
        return base64.b64decode(text + "=" * (-len(text) % 4), validate=True)
    except binascii.Error:
        return None


def reject_floats(value):
    if isinstance(value, float):
        raise ValueError("float in audit event")
    if isinstance(value, dict):
        for v in value.values():
            reject_floats(v)
    if isinstance(value, list):
        for v in value:
            reject_floats(v)


def canonical(obj):
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":"), sort_keys=True).encode()


def mac(key, *parts):
    return hmac.new(key, b"".join(parts), hashlib.sha256).hexdigest()


def fail(code, message):
    print(message)
    sys.exit(code)


def main():
    if len(sys.argv) not in (2, 3):
        fail(2, __doc__)
    key = load_key()
    if not key:
        fail(2, "SECFLOW_AUDIT_KEY must be hex or base64")
    key_id = hashlib.sha256(key).hexdigest()[:16]
    prev, seq, last_type, run_id = "0" * 64, 0, None, None
    with open(sys.argv[1], "rb") as f:
        raw_lines = f.read().split(b"\n")
    if raw_lines and raw_lines[-1] == b"":
        raw_lines.pop()
    for i, raw in enumerate(raw_lines, 1):
        try:
            event = json.loads(raw.decode("utf-8"))
            reject_floats(event)
        except ValueError:
            if i == len(raw_lines):  # torn last line: skipped
                break
            fail(1, f"tampered: line {i} is not an audit event")
        if seq == 0 and event.get("key_id") != key_id:
            fail(2, f"wrong key: chain key {event.get('key_id')}, given key {key_id}")
        given = event.pop("hash", None)
        expected = mac(key, event.get("prev_hash", "").encode("ascii"), canonical(event))
        if not hmac.compare_digest(expected, given or ""):
            fail(1, f"tampered: line {i} hash mismatch")
        if event.get("seq") != seq + 1 or event.get("prev_hash") != prev:
            fail(1, f"tampered: line {i} breaks the chain at seq {seq + 1}")
        if last_type in TERMINAL:
            fail(1, f"tampered: line {i} follows the terminal event")
        seq, prev, last_type = seq + 1, given, event["event_type"]
        run_id = run_id or event["correlation_id"]
    finished = last_type in TERMINAL
    if len(sys.argv) == 3:
        with open(sys.argv[2], encoding="utf-8") as f:
            record = json.load(f)
        summary = record.get("audit") or {}
        anchor = summary.get("anchor")
        cut = summary.get("cut")
        if cut is not None and not finished:
            want = mac(key, b"cut", record["run_id"].encode(), str(seq).encode(), prev.encode())
            if not hmac.compare_digest(want, cut):
                fail(1, f"tampered: truncated or edited after seq {seq} (cut mismatch)")
        elif anchor is not None:
            want = mac(key, b"anchor", record["run_id"].encode(), str(seq).encode(), prev.encode())
            if not hmac.compare_digest(want, anchor):
                fail(1, f"tampered: truncated or edited after seq {seq} (anchor mismatch)")
        elif record.get("status") != "running" and not finished:
            fail(1, f"tampered: truncated after seq {seq}")
    if not finished:
        fail(3, f"unfinished: {seq} events")
    print(f"intact: {seq} events, key {key_id}")
    sys.exit(0)


if __name__ == "__main__":
    main()
