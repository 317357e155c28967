#!/usr/bin/env python3
"""One FastCGI request straight to medsync-fcgi's socket, past nginx (to test the app's own limits).
    fcgi_request.py SOCKET METHOD URI CONTENT_TYPE BODY_BYTES
SOCKET is a unix socket path, or tcp:HOST:PORT[@SOURCE_ADDRESS] (the connection then comes from SOURCE_ADDRESS).
The body is BODY_BYTES bytes of "a" (CONTENT_LENGTH says so). Prints the CGI response (headers and body).
The app may answer before reading the body: then the rest of the body cannot be sent, which is fine."""
import socket, struct, sys

sock_path, method, uri, ctype, size = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5])


def record(kind, content=b""):
    return struct.pack(">BBHHBB", 1, kind, 1, len(content), 0, 0) + content


def pair(name, value):
    out = b""
    for n in (len(name), len(value)):
        out += bytes([n]) if n < 128 else struct.pack(">I", n | 0x80000000)
    return out + name + value


params = {"REQUEST_METHOD": method, "REQUEST_URI": uri, "SCRIPT_NAME": uri.split("?")[0],
          "QUERY_STRING": uri.split("?", 1)[1] if "?" in uri else "", "CONTENT_TYPE": ctype,
          "CONTENT_LENGTH": str(size), "REMOTE_ADDR": "127.0.0.1", "HTTP_HOST": "localhost",
          "SERVER_PROTOCOL": "HTTP/1.1"}
if sock_path.startswith("tcp:"):
    target, _, source = sock_path[4:].partition("@")
    host, _, port = target.rpartition(":")
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    if source:
        s.bind((source, 0))
    s.settimeout(30)
    s.connect((host, int(port)))
else:
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(sock_path)
    s.settimeout(30)
try:
    s.sendall(record(1, struct.pack(">HB5x", 1, 0)))
    s.sendall(record(4, b"".join(pair(k.encode(), v.encode()) for k, v in params.items())) + record(4))
except (BrokenPipeError, ConnectionResetError):
    pass
try:
    left = size
    chunk = b"a" * 32768
    while left > 0:
        n = min(left, len(chunk))
        s.sendall(record(5, chunk[:n]))
        left -= n
    s.sendall(record(5))
except (BrokenPipeError, ConnectionResetError):
    pass
data = b""
while True:
    try:
        got = s.recv(65536)
    except ConnectionResetError:
        break
    if not got:
        break
    data += got
out = b""
while len(data) >= 8:
    _, kind, _, length, padding, _ = struct.unpack(">BBHHBB", data[:8])
    if kind == 6:
        out += data[8:8 + length]
    data = data[8 + length + padding:]
sys.stdout.write(out.decode("utf-8", "replace"))
