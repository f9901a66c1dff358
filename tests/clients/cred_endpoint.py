#!/usr/bin/env python3
"""A local stand-in for the container credential endpoint and the CVM metadata endpoint:
`cred_endpoint.py PORT_FILE AK SK TOKEN AUTH_TOKEN`.

GET /container-creds (needs `Authorization: AUTH_TOKEN`) answers the container JSON; GET
/latest/meta-data/cam/security-credentials/ lists the role `gateway-role`, and
/latest/meta-data/cam/security-credentials/gateway-role answers the CVM JSON. Keys expire in an
hour. Writes its port to PORT_FILE and serves until killed; every request is logged to stderr.
"""
import datetime
import http.server
import json
import sys
import time

port_file, ak, sk, token, auth = sys.argv[1:6]


class Handler(http.server.BaseHTTPRequestHandler):
    def answer(self, status, body, ctype="application/json"):
        data = body.encode()
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        expires = int(time.time()) + 3600
        iso = datetime.datetime.fromtimestamp(expires, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
        if self.path == "/container-creds":
            if self.headers.get("Authorization") != auth:
                return self.answer(401, '{"message":"bad token"}')
            return self.answer(200, json.dumps({"AccessKeyId": ak, "SecretAccessKey": sk, "Token": token,
                                                "Expiration": iso, "RoleArn": "arn:aws:iam::1:role/gw"}))
        if self.path == "/latest/meta-data/cam/security-credentials/":
            return self.answer(200, "gateway-role", "text/plain")
        if self.path == "/latest/meta-data/cam/security-credentials/gateway-role":
            return self.answer(200, json.dumps({"TmpSecretId": ak, "TmpSecretKey": sk, "Token": token,
                                                "ExpiredTime": expires, "Expiration": iso, "Code": "Success"}))
        self.answer(404, '{"message":"no such path"}')


server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
open(port_file, "w").write(str(server.server_address[1]))
server.serve_forever()
