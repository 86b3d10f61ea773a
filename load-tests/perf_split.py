#!/usr/bin/env python3
"""Where a server's CPU time went, by component, per request: a `perf record -e cpu-clock`
profile of the server's core, kept to the server's own samples.

    perf_split.py DATA PID REQUESTS   prints one JSON object: the server's CPU time per request,
                                      and each component's share of it, largest first

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
sys.dont_write_bytecode = True
from callgrind_split import component  # noqa: E402

# "  12.34%  2422  807654321  motcua  [.] some::function  -  -": share, samples, period (for
# cpu-clock, nanoseconds of CPU time), object, `[k]` for the kernel's own code, the function,
# and the IPC columns where perf prints them.
LINE = re.compile(r"^\s*[\d.]+%\s+(\d+)\s+(\d+)\s+(.+?)\s+\[([.k])\]\s+(.*?)(\s+-\s+-)?\s*$")


def main() -> None:
    data, pid, requests = sys.argv[1], sys.argv[2], int(sys.argv[3])
    out = subprocess.run(
        ["perf", "report", "-i", data, "--pid", pid, "--stdio", "--no-children",
         "--show-nr-samples", "--show-total-period", "--sort", "dso,symbol",
         "--percent-limit", "0", "-g", "none"],
        check=True, capture_output=True, text=True,
    ).stdout
    nanoseconds, samples, split, top, unread = 0, 0, {}, [], []
    for line in out.splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        m = LINE.match(line)
        if not m:
            unread.append(line)
            continue
        count, period = int(m.group(1)), int(m.group(2))
        dso, kind, symbol = m.group(3), m.group(4), m.group(5).strip()
        name = ("kernel (sockets, system calls, scheduling)" if kind == "k"
                else component(f"{symbol} [{dso}]"))
        samples += count
        nanoseconds += period
        split[name] = split.get(name, 0) + period
        top.append((period, symbol[:120]))
    if unread:
        # A line not understood would quietly leave its time out of every share.
        sys.exit(f"{data}: {len(unread)} lines of perf's report not understood, "
                 f"the first: {unread[0]!r}")
    if not samples:
        sys.exit(f"{data}: no sample of process {pid}")
    cpu_us = nanoseconds / 1000 / max(requests, 1)
    print(json.dumps({
        "requests": requests,
        "samples": samples,
        "cpu_us_per_request": round(cpu_us, 2),
        "components": [
            {"component": name, "share": round(period / nanoseconds, 4),
             "us_per_request": round(cpu_us * period / nanoseconds, 2)}
            for name, period in sorted(split.items(), key=lambda kv: -kv[1])
        ],
        "functions": [{"share": round(period / nanoseconds, 4), "function": f}
                      for period, f in sorted(top, reverse=True)[:15]],
    }))


if __name__ == "__main__":
    main()
