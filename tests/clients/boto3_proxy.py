#!/usr/bin/env python3
"""Drive real boto3 through a sigtap proxy: `boto3_proxy.py SCENARIO ENDPOINT AK SK BUCKET`.

Prints one JSON line of results; exits 0 when every step behaved as the scenario expects.
"""
import datetime
import hashlib
import json
import os
import sys
import time
import urllib.request
from unittest import mock

import boto3
import botocore.auth
from botocore.config import Config
from botocore.exceptions import ClientError

scenario, endpoint, ak, sk, bucket = sys.argv[1:6]

# SIGTAP_CLIENT_CLOCK_OFFSET=SECONDS moves the SDK's signing clock (a test "days later")
_offset = float(os.environ.get("SIGTAP_CLIENT_CLOCK_OFFSET") or 0)
if _offset:
    _real_now = botocore.auth.get_current_datetime
    botocore.auth.get_current_datetime = lambda *a, **k: _real_now(*a, **k) + datetime.timedelta(seconds=_offset)


def client(sig="s3v4", secret=sk):
    proxies = {"http": os.environ["SIGTAP_HTTP_PROXY"]} if os.environ.get("SIGTAP_HTTP_PROXY") else None
    return boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id=ak,
                        aws_secret_access_key=secret, aws_session_token=os.environ.get("SIGTAP_SESSION_TOKEN"),
                        config=Config(signature_version=sig, s3={"addressing_style": "path"},
                                      retries={"max_attempts": 1}, proxies=proxies))


def body(n, seed):
    out, block = bytearray(), hashlib.sha256(seed.encode()).digest()
    while len(out) < n:
        block = hashlib.sha256(block).digest()
        out += block
    return bytes(out[:n])


def roundtrip(c, keys_sizes):
    done = []
    for key, n in keys_sizes:
        data = body(n, key)
        c.put_object(Bucket=bucket, Key=key, Body=data)
        got = c.get_object(Bucket=bucket, Key=key)["Body"].read()
        if hashlib.sha256(got).hexdigest() != hashlib.sha256(data).hexdigest():
            raise SystemExit("body of %r differs after the round trip (%d vs %d bytes)" % (key, len(got), n))
        head = c.head_object(Bucket=bucket, Key=key)
        if head["ContentLength"] != n:
            raise SystemExit("head of %r says %d bytes, want %d" % (key, head["ContentLength"], n))
        done.append(key)
    return done


result = {"scenario": scenario}
if scenario == "roundtrip":
    c = client()
    c.create_bucket(Bucket=bucket)
    keys = [("empty.bin", 0), ("one.bin", 1), ("dir/a b+c~d*e!f'(g).txt", 1000), ("文档/年度 报告.bin", 70000),
            ("big/five-mib.bin", 5 * 1024 * 1024 + 7)]
    result["keys"] = roundtrip(c, keys)
    listed = sorted(o["Key"] for o in c.list_objects_v2(Bucket=bucket).get("Contents", []))
    # s3s-fs leaves '+' unencoded in url-encoded listings and boto3 decodes it as a space
    # (the same happens without sigtap in between), so that reading is accepted too
    if listed != sorted(k for k, _ in keys) and listed != sorted(k.replace("+", " ") for k, _ in keys):
        raise SystemExit("listing differs: %r" % listed)
    # multipart upload: two parts
    mp = c.create_multipart_upload(Bucket=bucket, Key="mp/object.bin")
    p1, p2 = body(5 * 1024 * 1024, "p1"), body(1234, "p2")
    e1 = c.upload_part(Bucket=bucket, Key="mp/object.bin", UploadId=mp["UploadId"], PartNumber=1, Body=p1)["ETag"]
    e2 = c.upload_part(Bucket=bucket, Key="mp/object.bin", UploadId=mp["UploadId"], PartNumber=2, Body=p2)["ETag"]
    c.complete_multipart_upload(Bucket=bucket, Key="mp/object.bin", UploadId=mp["UploadId"],
                                MultipartUpload={"Parts": [{"ETag": e1, "PartNumber": 1}, {"ETag": e2, "PartNumber": 2}]})
    got = c.get_object(Bucket=bucket, Key="mp/object.bin")["Body"].read()
    if got != p1 + p2:
        raise SystemExit("multipart object differs")
    # a late retry of a part after completion: the service refuses it, sigtap's log says why
    try:
        c.upload_part(Bucket=bucket, Key="mp/object.bin", UploadId=mp["UploadId"], PartNumber=3, Body=b"")
        result["late_part"] = "accepted"
    except ClientError as e:
        result["late_part"] = e.response["Error"]["Code"]
    # presigned GET, fetched with plain urllib (signed for sigtap's host, re-signed by it)
    url = c.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "one.bin"}, ExpiresIn=600)
    with urllib.request.urlopen(url) as r:
        if r.read() != body(1, "one.bin"):
            raise SystemExit("presigned GET returned other bytes")
    # presigned PUT, sent with plain urllib
    put_url = c.generate_presigned_url("put_object", Params={"Bucket": bucket, "Key": "presigned/put.bin"}, ExpiresIn=600)
    req = urllib.request.Request(put_url, data=b"presigned put body", method="PUT")
    with urllib.request.urlopen(req) as r:
        if r.status != 200:
            raise SystemExit("presigned PUT answered %d" % r.status)
    if c.get_object(Bucket=bucket, Key="presigned/put.bin")["Body"].read() != b"presigned put body":
        raise SystemExit("presigned PUT stored other bytes")
    c.delete_object(Bucket=bucket, Key="one.bin")
    result["ok"] = True
elif scenario == "soak":
    # random sizes from 0 B to 64 MiB; the server-side hash (ETag = MD5 for single PUTs) and a
    # read-back compare prove the bytes arrive unchanged
    import random
    rnd = random.Random(20261124)
    c = client()
    c.create_bucket(Bucket=bucket)
    sizes = [0, 1, 8191, 8192, 65537, 1 << 20, 5 * (1 << 20) + 3] + [rnd.randrange(0, 4 << 20) for _ in range(5)] + [64 << 20]
    for i, n in enumerate(sizes):
        key = "soak/%02d-%d.bin" % (i, n)
        data = os.urandom(n) if n > (1 << 20) else body(n, key)
        etag = c.put_object(Bucket=bucket, Key=key, Body=data)["ETag"].strip('"')
        if etag != hashlib.md5(data).hexdigest():
            raise SystemExit("%s: the server stored other bytes (ETag %s)" % (key, etag))
        got = c.get_object(Bucket=bucket, Key=key)["Body"].read()
        if hashlib.sha256(got).digest() != hashlib.sha256(data).digest():
            raise SystemExit("%s: read back other bytes" % key)
        c.delete_object(Bucket=bucket, Key=key)
    result["sizes"] = sizes
    result["ok"] = True
elif scenario == "skew":
    # the client's clock is 20 minutes slow; sigtap re-signs with its own clock
    slow = datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None) - datetime.timedelta(minutes=20)
    with mock.patch.object(botocore.auth, "get_current_datetime", lambda *a, **k: slow):
        c = client()
        c.put_object(Bucket=bucket, Key="skew/ok.txt", Body=b"clock skew survived")
        got = c.get_object(Bucket=bucket, Key="skew/ok.txt")["Body"].read()
    if got != b"clock skew survived":
        raise SystemExit("skewed round trip returned other bytes")
    result["ok"] = True
elif scenario == "skewed-server":
    # the server's clock runs 20 minutes ahead: a correct client gets RequestTimeTooSkewed
    try:
        client().list_buckets()
        raise SystemExit("a 20-minute skew was accepted")
    except ClientError as e:
        result["code"] = e.response["Error"]["Code"]
        if result["code"] != "RequestTimeTooSkewed":
            raise SystemExit("expected RequestTimeTooSkewed, got %s" % result["code"])
    result["ok"] = True
elif scenario == "wrongsecret":
    c = client(secret=sk + "x")
    try:
        c.get_object(Bucket=bucket, Key="anything.txt")
        raise SystemExit("a wrong secret got through")
    except ClientError as e:
        result["code"] = e.response["Error"]["Code"]
        result["request_id"] = e.response["ResponseMetadata"].get("RequestId")
        if result["code"] != "SignatureDoesNotMatch":
            raise SystemExit("expected SignatureDoesNotMatch, got %s" % result["code"])
    result["ok"] = True
elif scenario == "sigv2":
    c = client(sig="s3")
    result["keys"] = roundtrip(c, [("legacy/v2 object.txt", 2048), ("legacy/empty", 0)])
    result["ok"] = True
elif scenario == "expired-presign":
    c = client()
    c.put_object(Bucket=bucket, Key="late.txt", Body=b"late but fine")
    url = c.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "late.txt"}, ExpiresIn=1)
    time.sleep(2.2)
    with urllib.request.urlopen(url) as r:
        if r.read() != b"late but fine":
            raise SystemExit("refreshed presigned GET returned other bytes")
    result["ok"] = True
else:
    raise SystemExit("unknown scenario %s" % scenario)
print(json.dumps(result))
