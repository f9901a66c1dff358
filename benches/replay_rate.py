#!/usr/bin/env python3
"""Replay throughput: a 10,000-exchange recording served by `sigtap mock --recording` and replayed
by `sigtap replay` against it (each request re-signed by replay, verified and matched by the
mock), at concurrency 1 and 16.

    benches/replay_rate.py [EXCHANGES]           (default 10000)

The recording is synthetic (written here in the documented format: 1 KiB PUTs and GETs of
distinct keys, SigV4 header-signed, signatures redacted as sigtap writes them). Standard
library only; needs a release build.
"""
import base64
import hashlib
import json
import os
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.environ.get("SIGTAP_BIN") or os.path.join(ROOT, "target/release/sigtap")
AK, SK = "AKIDREPLAYBENCH00001", "rEpLaYbEnChSeCrEt/K7MDENG+bPxRfiCYEXAMPLE"


def exchange(i, method, key, body, status, resp_body):
    sha = lambda b: hashlib.sha256(b).hexdigest()
    auth = ("AWS4-HMAC-SHA256 Credential=%s/20250115/us-east-1/s3/aws4_request, "
            "SignedHeaders=host;x-amz-content-sha256;x-amz-date, Signature=<redacted>" % AK)
    headers = [["host", "127.0.0.1:1"], ["x-amz-date", "20250115T090000Z"],
               ["x-amz-content-sha256", "UNSIGNED-PAYLOAD"], ["authorization", auth]]
    if body:
        headers.append(["content-length", str(len(body))])
    return {
        "id": i, "time": "2025-01-15T09:00:00Z",
        "request": {"method": method, "target": "/bench-bucket/%s" % key, "headers": headers,
                    "body": {"size": len(body), "sha256": sha(body), "base64": base64.b64encode(body).decode()}},
        "response": {"status": status, "headers": [["etag", '"%s"' % hashlib.md5(resp_body or body).hexdigest()],
                                                   ["content-length", str(len(resp_body))]],
                     "body": {"size": len(resp_body), "sha256": sha(resp_body),
                              "base64": base64.b64encode(resp_body).decode()}},
        "duration_ms": 0.5,
        "client": {"scheme": "sigv4", "carrier": "header", "access_key": AK, "verdict": "valid", "findings": []},
        "action": "resigned", "resigned_as": "sigv4",
    }


def main():
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 10000
    with tempfile.TemporaryDirectory(prefix="sigtap-replay-bench-") as d:
        rec = os.path.join(d, "rec.jsonl")
        with open(rec, "w") as f:
            f.write('{"sigtap_recording":1}\n')
            for i in range(n):
                body = hashlib.sha256(b"%d" % (i // 2)).digest() * 32
                key = "obj-%06d" % (i // 2)
                x = exchange(i + 1, "PUT", key, body, 200, b"") if i % 2 == 0 else \
                    exchange(i + 1, "GET", key, b"", 200, body)
                f.write(json.dumps(x, separators=(",", ":")) + "\n")
        mock = subprocess.Popen([BIN, "mock", "--port", "0", "--access-key", AK, "--secret-key", SK,
                                 "--recording", rec], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        addr = mock.stdout.readline().strip()
        try:
            print("| exchanges | concurrency | result | replayed requests/s |")
            print("|---|---|---|---|")
            for conc in (1, 16):
                out = subprocess.run([BIN, "replay", rec, "--upstream", "http://" + addr, "--access-key", AK,
                                      "--secret-key", SK, "--concurrency", str(conc), "--format", "json"],
                                     capture_output=True, text=True)
                summary = json.loads(out.stdout.strip().splitlines()[-1])["summary"]
                print("| %d | %d | %d same, %d different, %d failed | %.0f |" % (
                    n, conc, summary["same"], summary["different"], summary["errors"],
                    summary["requests_per_second"]))
        finally:
            mock.terminate()
            mock.wait()


if __name__ == "__main__":
    main()
