#!/usr/bin/env python3
"""A small COS test upstream: `cos_upstream.py PORT SECRET_ID SECRET_KEY [CERT KEY]`.

No COS server can be installed, so this one re-derives every request's `q-sign-algorithm=sha1`
signature with the official cos-python-sdk-v5 signing code (`CosS3Auth`), not with sigtap's,
answers failures with COS's error XML, and keeps objects in memory (PUT/GET/HEAD/DELETE).
Prints `listening` once ready.
"""
import hashlib
import sys
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from unittest import mock

import qcloud_cos.cos_auth
from qcloud_cos import CosConfig
from qcloud_cos.cos_auth import CosS3Auth

PORT, SECRET_ID, SECRET_KEY = int(sys.argv[1]), sys.argv[2], sys.argv[3]  # [4], [5]: TLS cert and key
OBJECTS = {}


class FakeRequest:
    def __init__(self, method, url, headers):
        self.method, self.url, self.headers = method, url, headers


def sdk_signature(method, raw_path, raw_query, headers, fields):
    """The signature cos-python-sdk-v5 computes for what arrived, with the same lists and window."""
    start, end = (int(x) for x in fields["q-sign-time"].split(";"))
    listed_h = [h for h in fields.get("q-header-list", "").split(";") if h]
    listed_p = [p for p in fields.get("q-url-param-list", "").split(";") if p]
    params = {}
    for piece in raw_query.split("&") if raw_query else []:
        k, _, v = piece.partition("=")
        k, v = urllib.parse.unquote_plus(k), urllib.parse.unquote_plus(v)
        if urllib.parse.quote(k, safe="-_.~").lower() in listed_p:
            params[k] = v
    sent = {k: v for k, v in headers.items() if k.lower() in listed_h}
    conf = CosConfig(Region="ap-guangzhou", SecretId=SECRET_ID, SecretKey=SECRET_KEY)
    key = urllib.parse.unquote(raw_path.replace("+", " "))
    auth = CosS3Auth(conf, key if key != "/" else None, params, expire=end - (start + 60),
                     sign_host="host" in listed_h)
    r = FakeRequest(method, "http://%s%s" % (headers.get("Host", ""), raw_path), sent)
    with mock.patch.object(qcloud_cos.cos_auth.time, "time", lambda: float(start + 60)):
        auth(r)
    got = dict(p.split("=", 1) for p in r.headers["Authorization"].split("&"))
    return got["q-signature"]


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *a):
        pass

    def error(self, status, code, message):
        body = ("<?xml version='1.0' encoding='utf-8' ?>\n<Error>\n\t<Code>%s</Code>\n\t<Message>%s</Message>\n"
                "\t<Resource>%s</Resource>\n\t<RequestId>dGVzdA==</RequestId>\n\t<TraceId>dGVzdA==</TraceId>\n"
                "</Error>" % (code, message, self.path)).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/xml")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("x-cos-request-id", "dGVzdA==")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def handle_any(self):
        n = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(n) if n else b""
        path, _, query = self.path.partition("?")
        auth = self.headers.get("Authorization", "")
        fields = dict(p.split("=", 1) for p in auth.split("&") if "=" in p)
        if "q-signature" not in fields:
            return self.error(403, "AccessDenied", "Access Denied.")
        start, end = (int(x) for x in fields["q-sign-time"].split(";"))
        if time.time() > end:
            return self.error(403, "AccessDenied", "Request has expired")
        headers = {k: v for k, v in self.headers.items()}
        if fields.get("q-ak") != SECRET_ID or sdk_signature(self.command, path, query, headers, fields) != fields["q-signature"]:
            return self.error(403, "SignatureDoesNotMatch", "The Signature you specified is invalid.")
        key = urllib.parse.unquote(path)
        if self.command == "PUT":
            OBJECTS[key] = body
            out, status = b"", 200
        elif self.command in ("GET", "HEAD"):
            if key not in OBJECTS:
                return self.error(404, "NoSuchKey", "The specified key does not exist.")
            out, status = OBJECTS[key], 200
        elif self.command == "DELETE":
            OBJECTS.pop(key, None)
            out, status = b"", 204
        else:
            return self.error(405, "MethodNotAllowed", "unsupported here")
        self.send_response(status)
        self.send_header("Content-Length", str(len(out)))
        self.send_header("ETag", '"%s"' % hashlib.md5(out).hexdigest())  # deterministic, like COS
        self.send_header("x-cos-request-id", "dGVzdA==")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(out)

    do_PUT = do_GET = do_HEAD = do_DELETE = do_POST = handle_any


server = ThreadingHTTPServer(("127.0.0.1", PORT), Handler)
if len(sys.argv) > 5:  # TLS with the given certificate chain and key
    import ssl
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(sys.argv[4], sys.argv[5])
    server.socket = ctx.wrap_socket(server.socket, server_side=True)
print("listening", flush=True)
server.serve_forever()
