#!/usr/bin/env python3
"""Where a callgrind dump's instructions went, by component, per request.

    callgrind_split.py DUMP REQUESTS   prints one JSON object: the instructions per request, and
                                       each component's share of them, largest first

Each function's own instructions (not those of what it calls) are counted to the component its
name or its object file belongs to, so the shares add up to the whole. Components are named by
what they do for a request (`P-256` is ES256 signing and verification; `memcpy` is mostly
futures and buffers moved whole), not only by crate.
"""
import json
import re
import subprocess
import sys

# Checked in order: the first rule whose pattern is found in "function [object]" names the
# component.
RULES = [
    (r"ecp_nistz256|p256|ecdsa|ECDSA|bn_|BN_|ec_GFp|ec_scalar|ec_point|EC_", "P-256 (ES256 signatures)"),
    (r"sha256|SHA256", "SHA-256"),
    (r"blake3", "BLAKE3"),
    (r"aws_lc|aes|AES|gcm|GCM", "aws-lc, other (AES, RNG)"),
    (r"mem(cpy|move|set)", "memcpy/memmove/memset"),
    (r"(^|[^a-z])_?mi_|mimalloc", "allocator (mimalloc)"),
    (r"\[.*(ld-linux|vdso)", "dynamic loader, vDSO"),
    (r"(^|:)(_int_|__libc_)?(malloc|free|realloc|calloc|cfree)(_[a-z]+)?\b.*\[.*libc\.so",
     "allocator (glibc)"),
    (r"\[.*libc\.so", "libc, other"),
]
# Rust symbols: the first crate named in the function's path.
CRATES = [
    ({"motcua"}, "motcua (our code)"),
    ({"poem", "poem_openapi", "poem_derive", "poem_openapi_derive"}, "poem, poem-openapi"),
    ({"hyper", "hyper_util", "http", "http_body", "http_body_util", "httparse", "h2", "bytes"},
     "hyper, http"),
    ({"tokio", "mio", "tokio_util", "futures_util", "futures_core", "futures_channel",
      "futures_task"}, "tokio, futures"),
    ({"redis", "combine", "arcstr"}, "redis client"),
    ({"sqlx", "sqlx_core", "sqlx_postgres"}, "sqlx"),
    ({"tracing", "tracing_core", "tracing_subscriber"}, "tracing"),
    ({"metrics", "metrics_util", "metrics_exporter_prometheus"}, "metrics"),
    ({"serde", "serde_core", "serde_json", "itoa", "ryu", "zmij"}, "serde"),
    ({"jsonwebtoken", "base64", "simd_json"}, "JWT encoding (base64, JSON)"),
    ({"regex", "regex_automata", "regex_syntax", "aho_corasick", "memchr"}, "regex"),
    ({"percent_encoding", "form_urlencoded", "serde_urlencoded"}, "percent-decoding (forms, paths)"),
    ({"moka", "crossbeam_epoch", "crossbeam_utils", "crossbeam_channel", "quanta"},
     "in-process caches (moka)"),
    ({"core", "alloc", "std", "hashbrown", "smallvec", "indexmap"},
     "Rust std (drops, collections, formatting)"),
]
LINE = re.compile(r"^\s*([\d,]+)\s+\(\s*[\d.]+%\)\s+(.*)$")
CRATE = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)::")


def component(where: str) -> str:
    for pattern, name in RULES:
        if re.search(pattern, where):
            return name
    # "file:function [object]"; a file name has no colon, a Rust path has "::".
    function = re.sub(r"^[^:]*:(?!:)", "", where.rsplit(" [", 1)[0], count=1)
    for crate in CRATE.findall(function):
        for crates, name in CRATES:
            if crate in crates:
                return name
        return "other crates"
    return "other"


def main() -> None:
    dump, requests = sys.argv[1], int(sys.argv[2])
    out = subprocess.run(
        ["callgrind_annotate", "--inclusive=no", "--threshold=100", "--auto=no", dump],
        check=True, capture_output=True, text=True,
    ).stdout
    total, split = 0, {}
    for line in out.splitlines():
        m = LINE.match(line)
        if not m:
            continue
        count, where = int(m.group(1).replace(",", "")), m.group(2)
        if where.startswith("PROGRAM TOTALS"):
            total = count
            continue
        # The frames on the stack when the dump is taken (the thread's start, the runtime's
        # loop) are listed with all they called: no function does all the work itself.
        if count >= 0.99 * total:
            continue
        name = component(where)
        split[name] = split.get(name, 0) + count
    listed = sum(split.values())
    if total > listed:
        split["other"] = split.get("other", 0) + total - listed
    total = max(total, listed)
    shares = sorted(split.items(), key=lambda kv: -kv[1])
    print(json.dumps({
        "requests": requests,
        "instructions_per_request": total // max(requests, 1),
        "components": [
            {"component": name, "share": round(count / total, 4),
             "per_request": count // max(requests, 1)}
            for name, count in shares
        ],
    }))


if __name__ == "__main__":
    main()
