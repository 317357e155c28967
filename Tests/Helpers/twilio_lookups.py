#!/usr/bin/env python3
"""twilio-python's own Client against the sandbox, for the lookups MedSync relies on (issue 9):
the Messages list with To/From/DateSent> filters, the IncomingPhoneNumbers list with its (partial)
PhoneNumber filter, releasing a number, closing a subaccount, fetching an account.

Usage: twilio_lookups.py BASE_URL ACCOUNT_SID AUTH_TOKEN < request.json, where request.json is one of
  {"op": "messages", "to": ..., "from": ..., "date_sent_after": ISO 8601}
  {"op": "numbers", "phone_number": ...}
  {"op": "release", "sid": "PN…"}
  {"op": "close", "sid": "AC…"}            (with the master's credentials)
  {"op": "fetch_account"}
Prints JSON: {"sids": [...]} / {"numbers": [...]} / {"deleted": bool} / {"status": ...}, or
{"error": {"status", "code"}} for a TwilioRestException.
"""
import json
import sys
from datetime import datetime

from twilio.base.exceptions import TwilioRestException
from twilio.rest import Client

base_url, sid, token = sys.argv[1:4]
req = json.load(sys.stdin)
client = Client(sid, token)
client.api.base_url = base_url  # instead of https://api.twilio.com
try:
    op = req["op"]
    if op == "messages":
        after = datetime.fromisoformat(req["date_sent_after"].replace("Z", "+00:00"))
        found = client.messages.list(to=req["to"], from_=req["from"], date_sent_after=after, limit=50)
        out = {"sids": [m.sid for m in found], "directions": [m.direction for m in found]}
    elif op == "numbers":
        out = {"numbers": [n.phone_number for n in client.incoming_phone_numbers.list(phone_number=req["phone_number"])]}
    elif op == "release":
        out = {"deleted": client.incoming_phone_numbers(req["sid"]).delete()}
    elif op == "close":
        out = {"status": client.api.accounts(req["sid"]).update(status="closed").status}
    elif op == "fetch_account":
        out = {"status": client.api.accounts(sid).fetch().status}
    else:
        out = {"error": {"status": 0, "code": "unknown op " + op}}
except TwilioRestException as e:
    out = {"error": {"status": e.status, "code": e.code}}
print(json.dumps(out))
