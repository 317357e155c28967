#!/usr/bin/env python3
"""Fernet with Python's `cryptography`, for the Swift interop tests.

  fernet_tool.py encrypt KEY   < plaintext bytes   -> prints the token
  fernet_tool.py decrypt KEY   < token             -> writes the plaintext as hex
  fernet_tool.py genkey                            -> prints Fernet.generate_key()
"""
import sys

try:
    from cryptography.fernet import Fernet
except ModuleNotFoundError as e:  # the Swift side turns this into a clear test failure
    sys.stderr.write("ModuleNotFoundError: %s (pip install cryptography)\n" % e)
    sys.exit(3)

op = sys.argv[1]
if op == "genkey":
    print(Fernet.generate_key().decode())
elif op == "encrypt":
    print(Fernet(sys.argv[2].encode()).encrypt(sys.stdin.buffer.read()).decode())
elif op == "decrypt":
    token = sys.stdin.read().strip().encode()
    print(Fernet(sys.argv[2].encode()).decrypt(token).hex())
else:
    sys.exit("unknown op " + op)
