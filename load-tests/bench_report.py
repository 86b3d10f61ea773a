#!/usr/bin/env python3
"""The report load-tests/bench prints and writes to load-tests/RESULTS.md, from the figures its
run left in target/load/ and its environment: the table, each target met or not, and for each
one missed what bounds it and what it would take, computed from the same run."""
import datetime, json, os


e = os.environ
load = lambda name: json.load(open(f"target/load/bench-{name}.json"))
cpu = lambda name: json.load(open(f"target/load/bench-{name}.cpu.json"))
profiled = e.get("PROFILED", "").split()
instructions = {name: json.load(open(f"target/load/bench-{name}.callgrind.json")) for name in profiled}
sampled = e.get("SAMPLED", "").split()
times = {name: json.load(open(f"target/load/bench-{name}.perf.json")) for name in sampled}
rows = [
    ("baseline", "minimal poem handler, the listing detail's bytes"),
    ("healthz", "`GET /healthz`"),
    ("jwks", "`GET /.well-known/jwks.json`"),
    ("client-credentials", "`POST /v1/auth/token` client_credentials (secret, ES256, audited)"),
    ("introspection", "`POST /v1/auth/introspect` an access token, by its client"),
    ("refresh", "`POST /v1/auth/token` refresh_token (rotation, reuse detection)"),
    ("listings-search-cached", "`GET /v1/listings?q=…`, cached"),
    ("listings-search-uncached", "`GET /v1/listings?q=…`, uncached"),
    ("listing-detail-cached", "`GET /v1/listings/{id}`, cached"),
    ("listing-detail-cached-bearer", "`GET /v1/listings/{id}`, cached, citizen's bearer token"),
    ("dossiers-list-cached", "`GET /v1/me/dossiers`, cached"),
    ("dossiers-list-uncached", "`GET /v1/me/dossiers`, uncached"),
    ("dossier-detail-cached", "`GET /v1/me/dossiers/{code}` (50 codes), cached"),
    ("dossier-detail-uncached", "`GET /v1/me/dossiers/{code}` (50 codes), uncached"),
    ("agency-transitions", "`POST /v1/agency/dossiers/{code}/transitions`"),
]
def mib(value: str) -> int:
    return int(value.split()[0])


# (row, what the issue asks, requests/s floor or None, baseline share floor, p99 ratio ceiling)
TARGETS = [
    ("client-credentials", "≥ 18,000/s", 18_000, None, None),
    ("introspection", "≥ 25,000/s", 25_000, None, None),
    ("refresh", "≥ 3,000/s", 3_000, None, None),
    ("listing-detail-cached", "≥ 0.5 × baseline, p99 ≤ 3×", None, 0.5, 3.0),
    ("listing-detail-cached-bearer", "≥ 0.5 × baseline, p99 ≤ 3×", None, 0.5, 3.0),
    ("dossiers-list-cached", "≥ 0.5 × baseline, p99 ≤ 3×", None, 0.5, 3.0),
    ("dossier-detail-cached", "≥ 0.5 × baseline, p99 ≤ 3×", None, 0.5, 3.0),
]


def cpu_us(name):
    """The server's CPU time a request in the measured run of row NAME, in µs."""
    return cpu(name)["server"] * 1e6 / load(name)["requests_per_second"]


def kernel_share(profile):
    return next((c["share"] for c in profile["components"] if c["component"].startswith("kernel")), 0.0)


def targets_and_profiles(base):
    """Each target met or not; for each one missed, what bound it in this run and what reaching
    it would take, from the same run's CPU shares and instruction counts."""
    labels = dict(rows)
    base_rps, base_p99 = base["requests_per_second"], base["latency_ms"]["p99"]
    print("\n## Targets\n")
    print("| row | target | measured | met |")
    print("|---|---|---:|:---:|")
    missed = []
    for name, wanted, floor, share, p99_ratio in TARGETS:
        r = load(name)
        rps, p99 = r["requests_per_second"], r["latency_ms"]["p99"]
        if floor is not None:
            needed, measured, met = floor, f"{rps:,.0f}/s", rps >= floor
        else:
            needed = share * base_rps
            measured = f"{rps / base_rps:.2f} ×, p99 {p99 / base_p99:.1f}×"
            met = rps >= needed and p99 <= p99_ratio * base_p99
        print(f"| {labels[name]} | {wanted} | {measured} | {'yes' if met else '**no**'} |")
        if not met:
            missed.append((name, rps, needed))
    rss = max(mib(e["rss_cached"]), mib(e["rss_uncached"]))
    print(f"| server peak RSS, every row | ≤ 100 MiB | {rss} MiB | {'yes' if rss <= 100 else '**no**'} |")

    if times:
        print("\n## Where the server's core goes (perf, sampled by the clock)\n")
        print(f"The server's core sampled {e.get('PERF_HZ', '?')} times a second "
              f"(`perf record -e cpu-clock -C`) while each row ran again on the measured server, "
              f"{e['PROFILE_SECONDS']} s of wrk at {e['CONCURRENCY']} connections, the server's "
              "own samples kept; each counted to its function's component "
              "(`load-tests/perf_split.py`), the kernel's work for the server included (its "
              "sockets: the client's and those to Redis and PostgreSQL). The shares are perf's; "
              "the time a request is the measured run's (the table above): sampling costs time of "
              "its own, unevenly between rows (the column under perf). The instruction counts below repeat better but weigh neither "
              "the kernel nor what an instruction costs.\n")
        print("| row | server CPU a request (measured run) | under perf | ÷ baseline's | "
              "largest components (share) |")
        print("|---|---:|---:|---:|---|")
        base_cpu = cpu_us("baseline")
        for name in sampled:
            t = times[name]
            parts = ", ".join(f"{c['component']} {c['share']:.0%}" for c in t["components"][:6])
            print(f"| {labels[name]} | {cpu_us(name):.1f} µs | {t['cpu_us_per_request']:.1f} µs | "
                  f"{cpu_us(name) / base_cpu:.1f} | {parts} |")

    if instructions:
        print("\n## Where a request's instructions go (callgrind)\n")
        print(f"The release server under `valgrind --tool=callgrind` on the same database, Redis and "
              f"cache entries, {e['PROFILE_SECONDS']} s of wrk at 4 connections per row; each "
              "function's own instructions counted to its component (`load-tests/callgrind_split.py`). "
              "Two runs of the same build agree within about 1 % (background tasks are counted too), "
              "where seconds vary by 20 % or more. The kernel's socket work, which callgrind does "
              "not see, comes on top. Large copies weigh far more here than they cost: glibc "
              "copies more than about 8 KiB with `rep movsb`, which callgrind counts as one "
              "instruction a byte (a future moved whole is such a copy).\n")
        counted = instructions.get("baseline", {}).get("instructions_per_request")
        print("| row | instructions per request | ÷ baseline's | largest components (share) |")
        print("|---|---:|---:|---|")
        for name in profiled:
            p = instructions[name]
            ratio = f"{p['instructions_per_request'] / counted:.1f}" if counted else "—"
            parts = ", ".join(f"{c['component']} {c['share']:.0%}" for c in p["components"][:6])
            print(f"| {labels[name]} | {p['instructions_per_request']:,} | {ratio} | {parts} |")

    if not missed:
        return
    print("\n## What bounds each missed target, and what it would take\n")
    print("From this run: the share of a core each party used during the row (the table above), "
          "turned into CPU time per request, and the instructions per request where profiled. "
          "The server has one core; PostgreSQL and Redis share both cores with it and with wrk. "
          "The shares cover the whole row, wrk's start and stop included, so they read a little "
          "low.\n")
    for name, rps, needed in missed:
        c = cpu(name)
        per = {k: c[k] * 1000 / rps for k in ("server", "postgres", "redis")}
        budget = 1000 / needed
        if per["postgres"] > per["server"]:
            bound = "PostgreSQL's work"
        elif per["server"] <= budget:
            bound = (f"waiting: the server's core is {1 - c['server']:.0%} idle while requests wait "
                     "on PostgreSQL or Redis round trips")
        elif c["server"] >= 0.85:
            bound = "the server's core"
        else:
            bound = "the server's core, partly idle while requests wait on PostgreSQL or Redis"
        line = (f"- **{labels[name]}**: {rps:,.0f}/s against {needed:,.0f}/s. Bound by {bound} "
                f"({c['server']:.0%} of the server's core busy). CPU per request: server {per['server']:.3f} ms, "
                f"PostgreSQL {per['postgres']:.3f} ms, Redis {per['redis']:.3f} ms")
        if rps >= needed:
            r = load(name)
            line += (f". The throughput is enough; the p99 ({r['latency_ms']['p99'] / base_p99:.1f}× "
                     f"the baseline's) is not")
        elif per["server"] <= budget:
            line += (f". {needed:,.0f}/s leaves the server {budget:.3f} ms of its core a request, "
                     f"more than its CPU work takes")
        else:
            line += (f". {needed:,.0f}/s leaves the server {budget:.3f} ms of its core a request: "
                     f"its work must shrink {per['server'] / budget:.1f}×")
        if rps < needed:
            if per["postgres"] * needed / 1000 >= 0.3:
                line += (f", and PostgreSQL would need {per['postgres'] * needed / 1000:.1f} cores "
                         f"at today's cost (beside wrk's core, about one is left)")
            # Instructions to save only where the server's CPU work is what must shrink.
            p = instructions.get(name) if per["server"] > budget else None
            if p:
                # The instructions the server's budget a request leaves, at today's rate of
                # instructions per second of its CPU.
                goal = p["instructions_per_request"] * budget / per["server"]
                top = ", ".join(f"{c['component']} {c['per_request']:,}" for c in p["components"][:4])
                line += (f". In instructions: {p['instructions_per_request']:,} a request now, "
                         f"about {goal:,.0f} then (if the kernel's share shrinks alike); the "
                         f"largest now: {top}")
        t = times.get(name) if per["server"] > budget else None
        if t:
            spent = cpu_us(name)
            top = ", ".join(f"{c['component']} {c['share'] * spent:.1f} µs"
                            for c in t["components"][:4])
            line += (f". By time (perf's shares of the {spent:.1f} µs a request): the largest "
                     f"parts {top}")
            base_t = times.get("baseline")
            if base_t:
                line += (f"; the baseline's kernel part {kernel_share(base_t) * cpu_us('baseline'):.1f} µs "
                         f"of its {cpu_us('baseline'):.1f} µs")
        print(line + ".")


base = load("baseline")
now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
print("# Benchmark results\n")
print("Written by `load-tests/bench` (see load-tests/README.md for what each row measures).\n")
print(f"- date: {now}; commit {e['commit']}")
print(f"- machine: {os.cpu_count()} cores ({e['cpu']}), {e['memory']}; "
      f"load average at the start {e['load_at_start']}")
print(f"- load: wrk, 1 thread, {e['CONCURRENCY']} connections, {e['DURATION']} s per row; "
      f"demo data {e['DOSSIERS']} dossiers and {e['LISTINGS']} listings (seeded in {e['seed_secs']} s)")
print(f"- pinning: the servers (motcua cached and uncached, motcua-baseline) on core {e['SERVER_CPU']}, "
      f"wrk on core {e['LOAD_CPU']} (taskset); PostgreSQL, Redis and anything else on the machine "
      "unpinned, on either core")
print("- rate limits lifted for the load's single address and clients "
      "(MOTCUA_RATE_LIMIT_*_PER_MIN and the clients' limits at 10⁹/min): every request is still "
      "counted, none is refused; one busy caller, so its requests are claimed from Redis 64 at a time")
print()
print("| path | requests/s | p50 ms | p99 ms | errors | throughput ÷ baseline | p99 ÷ baseline p99 "
      "| CPU: server | PostgreSQL | Redis |")
print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
for name, label in rows:
    r = load(name)
    rps, lat = r["requests_per_second"], r["latency_ms"]
    # Pool runs count every non-2xx themselves; wrk's own count starts at 400.
    errors = r["errors"] + (r["non_2xx"] if "non_2xx" in r else r["non_2xx_3xx"])
    c = cpu(name)
    print(f"| {label} | {rps:,.0f} | {lat['p50']:.2f} | {lat['p99']:.2f} | {errors} | "
          f"{rps / base['requests_per_second']:.2f} | {lat['p99'] / base['latency_ms']['p99']:.2f} | "
          f"{c['server']:.0%} | {c['postgres']:.0%} | {c['redis']:.0%} |")
print()
refresh = load("refresh")
print(f"- refresh: {refresh.get('non_2xx', '?')} responses other than 200, {refresh.get('starved', '?')} "
      f"requests without a token to send, {e['reused']} `refresh_token_reuse` audit entries "
      f"({e['CONCURRENCY']} chains, one per connection, each token sent once)")
print(f"- server peak RSS (VmHWM): {e['rss_cached']} cached, {e['rss_uncached']} uncached, "
      f"{e['rss_baseline']} baseline")
print(f"- PostgreSQL connections per replica: pool of at most {e['pool_max']} (src/db.rs), plus the audit writer's own one; "
      f"most held after a run: {e['pg_cached']} (cached), {e['pg_uncached']} (uncached)")
rev = json.load(open("target/load/bench-revocation-latency.json"))
print(f"- revocation across replicas (50 rounds, ms): p50 {rev.get('p50_ms')}, p95 {rev.get('p95_ms')}, "
      f"max {rev.get('max_ms')}")
print(f"- CPU: the share of one core each used during the row (user and system time): the server "
      f"(pinned to its core), PostgreSQL's processes and Redis (both unpinned)")
print(f"- the whole command took {e['elapsed']} s (build, seed, sign-ins, runs and profiles)")

targets_and_profiles(base)
