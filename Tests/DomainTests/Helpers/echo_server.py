#!/usr/bin/env python3
"""Tiny HTTP/1.1 server for HTTPClient tests (standard library only).

Binds 127.0.0.1 on a free port and prints the port on the first stdout line.
Exits when stdin reaches EOF (the test process closed it or died), so it never outlives the test.

Endpoints (any method):
  /echo            -> 200 JSON {method, path, query, headers, body, form, json, client_port}
  /status/<n>      -> status n, body "status <n>"
  /headers         -> 200 with X-Test: one, two Set-Cookie lines, X-Unicode (UTF-8 in a header value)
  /slow?ms=<n>     -> sleeps n ms, then 200 "slow"
"""
import json
import os
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, parse_qsl, urlsplit


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive: every response has Content-Length

    def log_message(self, *args):
        pass

    def send(self, status, body, content_type="text/plain; charset=utf-8", extra=()):
        data = body.encode("utf-8") if isinstance(body, str) else body
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        for name, value in extra:
            self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def handle_any(self):
        url = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        if url.path == "/echo":
            ctype = self.headers.get("Content-Type") or ""
            form = None
            parsed_json = None
            if ctype.startswith("application/x-www-form-urlencoded"):
                form = parse_qsl(body.decode("utf-8"), keep_blank_values=True, strict_parsing=bool(body))
            if ctype.startswith("application/json"):
                parsed_json = json.loads(body.decode("utf-8"))
            out = {
                "method": self.command,
                "path": url.path,
                "query": parse_qsl(url.query, keep_blank_values=True),
                "headers": {k.lower(): v for k, v in self.headers.items()},
                "body": body.decode("utf-8", errors="replace"),
                "form": form,
                "json": parsed_json,
                "client_port": self.client_address[1],
            }
            self.send(200, json.dumps(out), "application/json")
        elif url.path.startswith("/status/"):
            n = int(url.path[len("/status/"):])
            self.send(n, "status %d" % n)
        elif url.path == "/headers":
            self.send(200, "headers", extra=[
                ("X-Test", "one"),
                ("Set-Cookie", "a=1"),
                ("Set-Cookie", "b=2"),
            ])
        elif url.path == "/slow":
            ms = int(parse_qs(url.query).get("ms", ["1000"])[0])
            time.sleep(ms / 1000.0)
            try:
                self.send(200, "slow")
            except (BrokenPipeError, ConnectionResetError):
                pass
        else:
            self.send(404, "not found")

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = handle_any


def main():
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    print(server.server_address[1], flush=True)

    def watch_stdin():
        sys.stdin.read()
        os._exit(0)

    threading.Thread(target=watch_stdin, daemon=True).start()
    server.serve_forever()


if __name__ == "__main__":
    main()
