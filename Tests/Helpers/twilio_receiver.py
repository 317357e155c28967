#!/usr/bin/env python3
"""A stand-in for the app's webhooks that checks every request with twilio-python's RequestValidator.

Usage: twilio_receiver.py AUTH_TOKEN
Prints its port on the first line, then serves on 127.0.0.1 until stdin closes.
- POST /inbound...: valid signature -> 200 TwiML <Message>ok: BODY</Message>; invalid -> 403.
- POST /status...:  valid -> 200 empty; invalid -> 403.
- GET /log: JSON list of every POST received: {path, params: [[k, v]...], signature, valid}.
The URL validated is the one the request was sent to: http://127.0.0.1:PORT + path (with query).
"""
import json
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl
from xml.sax.saxutils import escape

from twilio.request_validator import RequestValidator

TOKEN = sys.argv[1]
validator = RequestValidator(TOKEN)
log = []
lock = threading.Lock()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def reply(self, status, body=b"", content_type="text/plain"):
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        if self.path == "/log":
            with lock:
                body = json.dumps(log).encode()
            self.reply(200, body, "application/json")
        else:
            self.reply(404)

    def do_POST(self):
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length).decode("utf-8")
        pairs = parse_qsl(raw, keep_blank_values=True)
        signature = self.headers.get("X-Twilio-Signature", "")
        url = "http://127.0.0.1:%d%s" % (self.server.server_address[1], self.path)
        valid = validator.validate(url, dict(pairs), signature)
        with lock:
            log.append({"path": self.path, "params": pairs, "signature": signature, "valid": valid,
                        "content_type": self.headers.get("Content-Type", "")})
        if not valid:
            self.reply(403, b"invalid signature")
        elif self.path.startswith("/inbound"):
            text = dict(pairs).get("Body", "")
            twiml = '<?xml version="1.0" encoding="UTF-8"?><Response><Message>ok: %s</Message></Response>' % escape(text)
            self.reply(200, twiml.encode(), "text/xml")
        else:
            self.reply(200)


server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
server.daemon_threads = True
print(server.server_address[1], flush=True)
threading.Thread(target=server.serve_forever, daemon=True).start()
sys.stdin.read()  # until the test closes stdin (or dies)
server.shutdown()
