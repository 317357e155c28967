#!/usr/bin/env python3
"""A client of the production nginx site over TLS, for the end-to-end test of nginx/medsync.conf.

Usage: tls_client.py < request.json, one JSON object per line on stdin, one answer per line on stdout.
Requests:
  {"action": "webhook", "url": ..., "cafile": ..., "auth_token": ..., "params": {...},
   "sign_url"?: URL the signature is computed for (default: url), "headers"?: {...}}
      twilio-python's RequestValidator signs params for sign_url; POSTed form-encoded to url.
  {"action": "request", "method": ..., "url": ..., "cafile"?: ..., "headers"?: {...}, "data"?: str,
   "repeat"?: n}
  {"action": "handshake", "host": ..., "port": ..., "cafile": ..., "server_name"?: SNI or null,
   "ciphers"?: OpenSSL cipher list (TLS 1.2 only then)}
Answers: {"status": int, "body": str, "headers": {...}} (for repeat: {"statuses": [...]}),
  {"closed": true, "error": str} when the server closed the connection without an answer,
  {"handshake": "ok", "version": ..., "cipher": ...} or {"handshake": "refused", "error": str}.
"""
import json
import socket
import ssl
import sys

import requests
from twilio.request_validator import RequestValidator


def answer(r):
    return {"status": r.status_code, "body": r.text, "headers": dict(r.headers)}


def request(session, method, url, cafile, headers, data):
    try:
        r = session.request(method, url, headers=headers or {}, data=data, verify=cafile or True,
                            allow_redirects=False, timeout=30)
        return answer(r)
    except requests.exceptions.ConnectionError as e:
        return {"closed": True, "error": str(e)[:300]}
    except requests.exceptions.SSLError as e:
        return {"closed": True, "error": str(e)[:300]}


def handshake(req):
    ctx = ssl.create_default_context(cafile=req["cafile"])
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    if req.get("ciphers"):
        ctx.maximum_version = ssl.TLSVersion.TLSv1_2
        ctx.set_ciphers(req["ciphers"])
    try:
        with socket.create_connection((req["host"], req["port"]), timeout=10) as raw:
            with ctx.wrap_socket(raw, server_hostname=req.get("server_name")) as tls:
                return {"handshake": "ok", "version": tls.version(), "cipher": tls.cipher()[0]}
    except (ssl.SSLError, OSError) as e:
        return {"handshake": "refused", "error": str(e)[:300]}


def main():
    session = requests.Session()
    for line in sys.stdin:
        if not line.strip():
            continue
        req = json.loads(line)
        action = req["action"]
        if action == "webhook":
            params = req["params"]
            signature = RequestValidator(req["auth_token"]).compute_signature(req.get("sign_url") or req["url"], params)
            headers = dict(req.get("headers") or {})
            headers["X-Twilio-Signature"] = signature
            headers["Content-Type"] = "application/x-www-form-urlencoded"
            out = request(session, "POST", req["url"], req.get("cafile"), headers, params)
        elif action == "request":
            if req.get("repeat"):
                statuses = []
                for _ in range(int(req["repeat"])):
                    r = request(session, req.get("method", "GET"), req["url"], req.get("cafile"), req.get("headers"), req.get("data"))
                    statuses.append(r.get("status", 0))
                out = {"statuses": statuses}
            else:
                out = request(requests.Session(), req.get("method", "GET"), req["url"], req.get("cafile"),
                              req.get("headers"), req.get("data"))
        elif action == "handshake":
            out = handshake(req)
        else:
            out = {"error": "unknown action " + action}
        print(json.dumps(out), flush=True)


main()
