#!/usr/bin/env python3
"""Checks signatures the sandbox computed, with twilio-python's RequestValidator.

stdin: JSON list of {"token": ..., "url": ..., "params": [[k, v], ...], "signature": ...}
stdout: JSON list of booleans, one per item.
"""
import json
import sys

from twilio.request_validator import RequestValidator

items = json.load(sys.stdin)
print(json.dumps([RequestValidator(i["token"]).validate(i["url"], dict(i["params"]), i["signature"]) for i in items]))
