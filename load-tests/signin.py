#!/usr/bin/env python3
"""Signs a demo citizen in through the eID simulator, as the app and a browser would, and prints
the token response (JSON) on stdout.

    signin.py --server URL --client-id ID [--citizen citizen-l2] [--scope "openid profile"]

Authorization code with PKCE (RFC 7636) against our authorization endpoint, the simulator's login
form, our callback, then the code exchange. Loopback addresses only.
"""
import argparse
import base64
import hashlib
import http.cookiejar
import ipaddress
import json
import secrets
import urllib.error
import urllib.parse
import urllib.request

REDIRECT = "http://127.0.0.1:53117/oauth/callback"


def loopback(url):
    host = urllib.parse.urlparse(url).hostname
    if host != "localhost" and not ipaddress.ip_address(host).is_loopback:
        raise SystemExit(f"refusing a non-loopback target: {url}")
    return url.rstrip("/")


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


def browser():
    jar = http.cookiejar.CookieJar()
    return urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar), NoRedirect())


def call(opener, url, data=None):
    """Returns (status, Location or None, body)."""
    try:
        with opener.open(urllib.request.Request(url, data=data), timeout=10) as response:
            return response.status, response.headers.get("Location"), response.read()
    except urllib.error.HTTPError as err:
        return err.code, err.headers.get("Location"), err.read()


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--server", required=True)
    parser.add_argument("--client-id", required=True)
    parser.add_argument("--citizen", default="citizen-l2")
    parser.add_argument("--scope", default="openid profile offline_access")
    args = parser.parse_args()
    server = loopback(args.server)
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=")
    state = secrets.token_urlsafe(16)
    query = urllib.parse.urlencode({
        "response_type": "code", "client_id": args.client_id, "redirect_uri": REDIRECT,
        "scope": args.scope, "state": state, "code_challenge": challenge.decode(),
        "code_challenge_method": "S256",
    })
    b = browser()
    status, url, body = call(b, f"{server}/v1/auth/authorize?{query}")
    assert status == 302, (status, body)
    # The simulator's pages until it sends the browser back to our callback.
    for _ in range(10):
        if url.startswith(server):
            break
        status, next_url, body = call(b, url)
        if 300 <= status < 400:
            url = urllib.parse.urljoin(url, next_url)
            continue
        assert status == 200, (status, url, body)
        form = urllib.parse.urlencode({"login": args.citizen}).encode()
        status, next_url, body = call(b, f"{url}/login", form)
        url = urllib.parse.urljoin(url, next_url)
    status, back, body = call(b, url)
    assert status == 302 and back.startswith(REDIRECT), (status, back, body)
    params = dict(urllib.parse.parse_qsl(urllib.parse.urlparse(back).query))
    assert params.get("state") == state, back
    form = urllib.parse.urlencode({
        "grant_type": "authorization_code", "code": params["code"], "redirect_uri": REDIRECT,
        "client_id": args.client_id, "code_verifier": verifier,
    }).encode()
    status, _, body = call(b, f"{server}/v1/auth/token", form)
    assert status == 200, (status, body)
    print(body.decode())


if __name__ == "__main__":
    main()
