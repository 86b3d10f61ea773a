#!/usr/bin/env python3
"""How long a revocation on one replica takes to be refused by another.

    revocation_latency.py --a URL --b URL --client-id ID --client-secret SECRET [--rounds N]

Each round gets a client-credentials token from replica A, checks that replica B accepts it,
revokes it on A (RFC 7009), and from A's answer on polls B every 5 ms until B answers 401. Prints
one JSON report (milliseconds: min, p50, p95, max). Loopback addresses only; bounded rounds.
"""
import argparse
import base64
import ipaddress
import json
import statistics
import time
import urllib.error
import urllib.parse
import urllib.request


def loopback(url):
    host = urllib.parse.urlparse(url).hostname
    if host != "localhost" and not ipaddress.ip_address(host).is_loopback:
        raise SystemExit(f"refusing a non-loopback target: {url}")
    return url.rstrip("/")


def call(method, url, headers=None, body=None):
    request = urllib.request.Request(url, method=method, headers=headers or {}, data=body)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as err:
        return err.code, err.read()


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--a", required=True)
    parser.add_argument("--b", required=True)
    parser.add_argument("--client-id", required=True)
    parser.add_argument("--client-secret", required=True)
    parser.add_argument("--rounds", type=int, default=20)
    args = parser.parse_args()
    a, b = loopback(args.a), loopback(args.b)
    basic = base64.b64encode(f"{args.client_id}:{args.client_secret}".encode()).decode()
    auth = {"Authorization": f"Basic {basic}",
            "Content-Type": "application/x-www-form-urlencoded"}
    latencies = []
    for _ in range(min(args.rounds, 200)):
        status, body = call("POST", f"{a}/v1/auth/token", auth, b"grant_type=client_credentials")
        assert status == 200, body
        token = json.loads(body)["access_token"]
        bearer = {"Authorization": f"Bearer {token}"}
        status, body = call("GET", f"{b}/v1/agency/submissions", bearer)
        assert status == 200, (status, body)
        status, body = call("POST", f"{a}/v1/auth/revoke", auth,
                            urllib.parse.urlencode({"token": token}).encode())
        assert status == 200, body
        revoked = time.monotonic()
        deadline = revoked + 30
        while time.monotonic() < deadline:
            if call("GET", f"{b}/v1/agency/submissions", bearer)[0] == 401:
                break
            time.sleep(0.005)
        else:
            raise SystemExit("replica B still accepted a revoked token after 30 s")
        latencies.append((time.monotonic() - revoked) * 1000)
    latencies.sort()
    print(json.dumps({
        "rounds": len(latencies),
        "min_ms": round(latencies[0], 1),
        "p50_ms": round(statistics.median(latencies), 1),
        "p95_ms": round(latencies[int(0.95 * (len(latencies) - 1))], 1),
        "max_ms": round(latencies[-1], 1),
    }))


if __name__ == "__main__":
    main()
