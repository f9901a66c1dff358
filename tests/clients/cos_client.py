#!/usr/bin/env python3
"""cos-python-sdk-v5 through sigtap: `cos_client.py SCENARIO PROXY_PORT SECRET_ID SECRET_KEY`."""
import hashlib
import json
import sys
import time
from unittest import mock

import qcloud_cos.cos_auth
from qcloud_cos import CosConfig, CosS3Client
from qcloud_cos.cos_exception import CosServiceError

scenario, port, sid, skey = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]

# SIGTAP_CLIENT_CLOCK_OFFSET=SECONDS moves the SDK's signing clock (a test "days later")
_offset = float(__import__("os").environ.get("SIGTAP_CLIENT_CLOCK_OFFSET") or 0)
if _offset:
    _real_time = time.time
    qcloud_cos.cos_auth.time.time = lambda: _real_time() + _offset
BUCKET = "sigtaptest-1250000000"


def client(secret=skey):
    https_proxy = __import__("os").environ.get("SIGTAP_HTTPS_PROXY")
    if https_proxy:
        # unmodified HTTPS: the real endpoint, sigtap only as the proxy, its CA as the bundle
        conf = CosConfig(Region="ap-guangzhou", SecretId=sid, SecretKey=secret, Scheme="https",
                         Proxies={"https": https_proxy}, VerifySSL=__import__("os").environ["SIGTAP_VERIFY_SSL"])
        return CosS3Client(conf, retry=0)
    # connects to sigtap (IP/Port) but sends and signs the real COS Host
    conf = CosConfig(Region="ap-guangzhou", SecretId=sid, SecretKey=secret, Scheme="http", IP="127.0.0.1",
                     Port=port)
    return CosS3Client(conf, retry=0)


result = {"scenario": scenario}
if scenario == "roundtrip":
    c = client()
    try:
        c.create_bucket(Bucket=BUCKET)  # the strict mock needs it; other upstreams may say it exists
    except CosServiceError as e:
        if e.get_error_code() not in ("BucketAlreadyOwnedByYou", "BucketAlreadyExists"):
            raise
    for key, data in [("a b+c~d*e.txt", b"cos through sigtap"), ("文档/报告.bin", bytes(range(256)) * 300)]:
        c.put_object(Bucket=BUCKET, Key=key, Body=data)
        got = c.get_object(Bucket=BUCKET, Key=key)["Body"].get_raw_stream().read()
        if hashlib.sha256(got).digest() != hashlib.sha256(data).digest():
            raise SystemExit("body of %r differs" % key)
        c.delete_object(Bucket=BUCKET, Key=key)
    result["ok"] = True
elif scenario == "clock-behind-3h10m":
    real = time.time
    with mock.patch.object(qcloud_cos.cos_auth.time, "time", lambda: real() - 3 * 3600 - 600):
        c = client()
        c.put_object(Bucket=BUCKET, Key="late/clock.txt", Body=b"slow clock")
    result["ok"] = True
elif scenario == "wrongsecret":
    try:
        client(secret=skey + "x").get_object(Bucket=BUCKET, Key="x.txt")
        raise SystemExit("a wrong secret got through")
    except CosServiceError as e:
        result["code"] = e.get_error_code()
        result["request_id"] = e.get_request_id()
        if result["code"] != "SignatureDoesNotMatch" or not result["request_id"]:
            raise SystemExit("the SDK did not read sigtap's COS error document: %r" % result)
    result["ok"] = True
else:
    raise SystemExit("unknown scenario")
print(json.dumps(result))
