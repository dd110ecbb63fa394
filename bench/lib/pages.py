#!/usr/bin/env python3
"""The hosted pages of bench/run (lib/pages.sh): server time to render a page and what it weighs.

  pages.py --base URL --count N [--warmup W] > pages.json

Against a Portcullis at URL with the pages on (the default): signs a new user up through the API
(its session token, sent as the session cookie, opens /account), then on one kept-alive
connection, one request at a time, GETs /sign-in, /account and the baseline /api/auth/ok N times
each, interleaved so that any disturbance of the machine hits all three alike (after W of each
not counted). The time of a request is from sending it to having read the whole answer, so it is
the server's time plus the loopback round trip and this client's parsing, the same for all three:
page - baseline is the rendering (template, CSP nonce, form token, session lookup) on its own.

Weight: each page's answer (status line, headers, body) and every stylesheet, script and image
it links (fetched once each, with their headers); images other than the configured logo
(--logo URL, none by default) are counted and reported, as are `url(...)` references in the
stylesheets.

Prints one JSON object: per page, p50/p99/mean ms, the baseline's, and the bytes. Exits non-zero
if a page does not answer 200 HTML (a signed-out /account would measure a redirect).
Standard library only; loopback only; every request has a timeout.
"""

import argparse
import html.parser
import http.client
import json
import re
import secrets
import statistics
import sys
import time
import urllib.parse

PAGES = ("/sign-in", "/account")
BASELINE = "/api/auth/ok"


def die(msg):
    print(f"pages.py: {msg}", file=sys.stderr)
    sys.exit(1)


class Links(html.parser.HTMLParser):
    """The stylesheets, scripts and images a page makes a browser fetch."""

    def __init__(self):
        super().__init__()
        self.assets, self.images = [], []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "link" and "stylesheet" in (a.get("rel") or "").split() and a.get("href"):
            self.assets.append(a["href"])
        elif tag == "script" and a.get("src"):
            self.assets.append(a["src"])
        elif tag == "img" and a.get("src"):
            self.images.append(a["src"])


class Client:
    def __init__(self, base):
        url = urllib.parse.urlsplit(base)
        if url.hostname not in ("127.0.0.1", "localhost", "::1"):
            die(f"refusing a non-loopback server: {base}")
        self.base = base
        self.conn = http.client.HTTPConnection(url.hostname, url.port, timeout=30)

    def get(self, path, headers=None):
        """(status, header bytes, body bytes, headers, body) of one GET on the kept-alive
        connection."""
        self.conn.request("GET", path, headers=headers or {})
        resp = self.conn.getresponse()
        body = resp.read()
        head = len(f"HTTP/1.1 {resp.status} {resp.reason}\r\n") + sum(
            len(k) + len(v) + 4 for k, v in resp.getheaders()) + 2
        return resp.status, head, len(body), resp, body


def sign_up(base):
    url = urllib.parse.urlsplit(base)
    conn = http.client.HTTPConnection(url.hostname, url.port, timeout=30)
    user = {"name": "Bench", "email": f"pages-{secrets.token_hex(6)}@example.com",
            "password": f"Violet {secrets.token_hex(8)} lantern 42!"}
    conn.request("POST", "/api/auth/sign-up/email", body=json.dumps(user),
                 headers={"Content-Type": "application/json", "Origin": base})
    resp = conn.getresponse()
    body = resp.read()
    if resp.status != 200:
        die(f"sign-up answered {resp.status}: {body[:200]!r}")
    cookie = next((v.split(";", 1)[0] for k, v in resp.getheaders()
                   if k.lower() == "set-cookie" and "session_token=" in v), None)
    if cookie is None:
        die("sign-up set no session cookie")
    return cookie


def weigh(client, path, headers, logo):
    status, head, size, resp, body = client.get(path, headers)
    if status != 200 or "text/html" not in (resp.getheader("content-type") or ""):
        die(f"GET {path} answered {status} {resp.getheader('content-type')}")
    links = Links()
    links.feed(body.decode("utf-8", "replace"))
    assets, css_urls = [], []
    for href in links.assets + [i for i in links.images if i == logo]:
        target = urllib.parse.urlsplit(urllib.parse.urljoin(client.base + path, href))
        if target.netloc != urllib.parse.urlsplit(client.base).netloc:
            assets.append({"url": href, "bytes": None, "note": "another origin, not counted"})
            continue
        a_status, a_head, a_size, a_resp, a_body = client.get(
            target.path + (f"?{target.query}" if target.query else ""))
        if a_status != 200:
            die(f"GET {href} (linked from {path}) answered {a_status}")
        if "css" in (a_resp.getheader("content-type") or ""):
            css_urls += re.findall(rb"url\(([^)]*)\)", a_body)
        assets.append({"url": href, "bytes": a_head + a_size})
    counted = sum(a["bytes"] or 0 for a in assets)
    return {
        "html_bytes": head + size,
        "html_body_bytes": size,
        "assets": assets,
        "total_bytes": head + size + counted,
        "images_besides_logo": [i for i in links.images if i != logo],
        "stylesheet_urls": [u.decode("utf-8", "replace") for u in css_urls],
    }


def stats(samples):
    s = sorted(samples)
    return {"p50": round(statistics.median(s), 3),
            "p99": round(s[min(len(s) - 1, int(len(s) * 0.99))], 3),
            "mean": round(statistics.fmean(s), 3)}


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--base", required=True)
    p.add_argument("--count", type=int, default=2000)
    p.add_argument("--warmup", type=int, default=200)
    p.add_argument("--logo", default=None)
    args = p.parse_args()
    cookie = sign_up(args.base)
    client = Client(args.base)
    headers = {"/sign-in": {}, "/account": {"Cookie": cookie}, BASELINE: {}}
    weights = {page: weigh(client, page, headers[page], args.logo) for page in PAGES}
    times = {path: [] for path in headers}
    for i in range(args.warmup + args.count):
        for path, hdrs in headers.items():
            start = time.perf_counter()
            status, _, _, _, _ = client.get(path, hdrs)
            elapsed = (time.perf_counter() - start) * 1000
            if status != 200:
                die(f"GET {path} answered {status}")
            if i >= args.warmup:
                times[path].append(elapsed)
    baseline = stats(times[BASELINE])
    result = {"count": args.count, "warmup": args.warmup, "baseline": baseline, "pages": {}}
    for page in PAGES:
        t = stats(times[page])
        result["pages"][page] = {
            "ms": t,
            "render_p50_ms": round(t["p50"] - baseline["p50"], 3),
            **weights[page],
        }
    json.dump(result, sys.stdout)  # one line: report.py reads the last line that parses
    print()


if __name__ == "__main__":
    main()
