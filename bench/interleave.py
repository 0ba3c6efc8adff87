#!/usr/bin/env python3
"""Interleaved benchmark rounds: each round runs every command once, in a fresh random order,
so a shared machine's load drifts over all of them alike. Reports per command the median wall
time and the median CPU time (user + system of the command and everything it started, from
the kernel's rusage of reaped children), and both as ratios to the first command.

Usage: interleave.py ROUNDS NAME=COMMAND [NAME=COMMAND ...]   (COMMAND run by /bin/sh)
       a `--prepare 'SHELL'` before the pairs runs that before every command (untimed).
"""
import random
import resource
import statistics
import subprocess
import sys
import time


def main() -> None:
    args = sys.argv[1:]
    prepare = None
    if len(args) >= 2 and args[0] == "--prepare":
        prepare, args = args[1], args[2:]
    rounds = int(args[0])
    cmds = [a.split("=", 1) for a in args[1:]]
    wall = {n: [] for n, _ in cmds}
    cpu = {n: [] for n, _ in cmds}
    for _ in range(rounds):
        order = list(cmds)
        random.shuffle(order)
        for name, cmd in order:
            if prepare:
                subprocess.run(prepare, shell=True, check=True)
            before = resource.getrusage(resource.RUSAGE_CHILDREN)
            start = time.perf_counter()
            subprocess.run(cmd, shell=True, check=True, stdout=subprocess.DEVNULL)
            wall[name].append(time.perf_counter() - start)
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            cpu[name].append(
                after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime
            )
    first = cmds[0][0]
    w0, c0 = statistics.median(wall[first]), statistics.median(cpu[first])
    print(f"{rounds} interleaved rounds; load average now {open('/proc/loadavg').read().split()[0]}")
    for name, _ in cmds:
        w, c = statistics.median(wall[name]), statistics.median(cpu[name])
        spread = (max(wall[name]) - min(wall[name])) / w * 100
        print(
            f"{name:<16} wall median {w * 1e3:8.1f} ms (min {min(wall[name]) * 1e3:7.1f}, "
            f"spread {spread:4.0f} %)  {w / w0:5.2f}x {first}   "
            f"CPU median {c * 1e3:7.1f} ms  {c / c0:5.2f}x {first}"
        )


if __name__ == "__main__":
    main()
