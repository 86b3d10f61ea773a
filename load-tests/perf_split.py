#!/usr/bin/env python3
"""Where a server's CPU time went, by component, per request: a `perf record -e cpu-clock` profile.

    perf_split.py DATA REQUESTS   prints one JSON object: the server's CPU time per request, and
                                  each component's share of it, largest first

Sampling by the clock sees what callgrind's instruction counts cannot: the kernel's socket and
system-call work for the request, and each instruction at its real cost. An instruction count
weighs every byte that `rep movsb` copies as one instruction (glibc's memcpy takes that path
above a few KiB), so callgrind makes large copies look tens of times dearer than they are.
The components are callgrind_split.py's, plus the kernel.
"""
import json
import re
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from callgrind_split import component  # noqa: E402

# "  12.34%  2422  motcua  [.] some::function  -  -"; `[k]` marks the kernel's own code, the
# dashes are the IPC columns where perf prints them.
LINE = re.compile(r"^\s*([\d.]+)%\s+(\d+)\s+(\S+)\s+\[([.k])\]\s+(.*?)(\s+-\s+-)?\s*$")
# cpu-clock counts nanoseconds of CPU time: the event count is the time the server ran.
NANOSECONDS = re.compile(r"^# Event count \(approx\.\): (\d+)")


def main() -> None:
    data, requests = sys.argv[1], int(sys.argv[2])
    out = subprocess.run(
        ["perf", "report", "-i", data, "--stdio", "--no-children", "--show-nr-samples",
         "--sort", "dso,symbol", "--percent-limit", "0", "-g", "none"],
        check=True, capture_output=True, text=True,
    ).stdout
    nanoseconds, samples, split, top = 0, 0, {}, []
    for line in out.splitlines():
        m = NANOSECONDS.match(line)
        if m:
            nanoseconds = int(m.group(1))
            continue
        m = LINE.match(line)
        if not m:
            continue
        share, dso, kind, symbol = float(m.group(1)) / 100, m.group(3), m.group(4), m.group(5)
        samples += int(m.group(2))
        name = ("kernel (sockets, system calls, scheduling)" if kind == "k"
                else component(f"{symbol.strip()} [{dso}]"))
        split[name] = split.get(name, 0.0) + share
        top.append((share, symbol.strip()[:120]))
    total = sum(split.values()) or 1.0
    cpu_us = nanoseconds / 1000 / max(requests, 1)
    print(json.dumps({
        "requests": requests,
        "samples": samples,
        "cpu_us_per_request": round(cpu_us, 2),
        "components": [
            {"component": name, "share": round(share / total, 4),
             "us_per_request": round(cpu_us * share / total, 2)}
            for name, share in sorted(split.items(), key=lambda kv: -kv[1])
        ],
        "functions": [{"share": round(s / total, 4), "function": f}
                      for s, f in sorted(top, reverse=True)[:15]],
    }))


if __name__ == "__main__":
    main()
