#!/usr/bin/env python3
"""A credential_process for the gateway tests: `fake_sts.py STATE_DIR`.

Hands out the next key of the pool in STATE_DIR/pool.json ([[id, secret, token], ...]) with an
Expiration LIFETIME seconds from now (STATE_DIR/lifetime, default 75) and appends
`id expiration_unix` to STATE_DIR/ledger. When STATE_DIR/fail exists it fails instead (exit 1,
a message on stderr), as an unreachable STS would.
"""
import datetime
import json
import os
import sys
import time

state = sys.argv[1]
if os.path.exists(os.path.join(state, "fail")):
    sys.stderr.write("fake sts: the service is unreachable\n")
    sys.exit(1)
pool = json.load(open(os.path.join(state, "pool.json")))
counter = os.path.join(state, "counter")
n = int(open(counter).read()) if os.path.exists(counter) else 0
open(counter, "w").write(str(n + 1))
ak, sk, token = pool[n % len(pool)]
lifetime_file = os.path.join(state, "lifetime")
lifetime = int(open(lifetime_file).read()) if os.path.exists(lifetime_file) else 75
expires = int(time.time()) + lifetime
with open(os.path.join(state, "ledger"), "a") as f:
    f.write("%s %d\n" % (ak, expires))
print(json.dumps({
    "Version": 1,
    "AccessKeyId": ak,
    "SecretAccessKey": sk,
    "SessionToken": token,
    "Expiration": datetime.datetime.fromtimestamp(expires, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
}))
