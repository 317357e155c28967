#!/usr/bin/env python3
"""twilio-python's own Client pointed at the sandbox: does the sandbox answer what the SDK parses?

Usage: twilio_client.py BASE_URL ACCOUNT_SID AUTH_TOKEN < request.json
request.json: {"to": ..., "from": ..., "body"?: ..., "content_sid"?: ..., "content_variables"?: ...,
               "media_url"?: [...], "status_callback"?: ..., "fetch"?: true}
Prints JSON: the created (and, with "fetch", re-fetched) MessageInstance's fields, or
{"error": {"status": ..., "code": ..., "message": ...}} for a TwilioRestException.
"""
import json
import sys

from twilio.base.exceptions import TwilioRestException
from twilio.rest import Client

base_url, sid, token = sys.argv[1:4]
req = json.load(sys.stdin)
client = Client(sid, token)
client.api.base_url = base_url  # instead of https://api.twilio.com


def fields(m):
    return {
        "sid": m.sid, "account_sid": m.account_sid, "status": m.status, "to": m.to, "from": m.from_,
        "body": m.body, "num_media": m.num_media, "direction": m.direction, "api_version": m.api_version,
        "error_code": m.error_code, "error_message": m.error_message, "price": m.price, "uri": m.uri,
        "date_created": m.date_created.isoformat() if m.date_created else None,
        "date_created_type": type(m.date_created).__name__,
        "subresource_uris": m.subresource_uris,
    }


kwargs = {"to": req["to"], "from_": req["from"]}
for key in ("body", "content_sid", "content_variables", "media_url", "status_callback"):
    if key in req:
        kwargs[key] = req[key]
try:
    created = client.messages.create(**kwargs)
    out = {"created": fields(created)}
    if req.get("fetch"):
        out["fetched"] = fields(client.messages(created.sid).fetch())
except TwilioRestException as e:
    out = {"error": {"status": e.status, "code": e.code, "message": e.msg}}
print(json.dumps(out))
