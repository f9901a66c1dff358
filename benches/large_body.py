#!/usr/bin/env python3
"""Large bodies through sigtap vs directly: PUT in three payload modes and GET, throughput and
sigtap's peak RSS (a fresh sigtap per measurement, VmHWM read before it stops).

    benches/large_body.py [SIZE_MIB ...]          (default: 1024 4096)

Each figure is the best of ROUNDS runs (env SIGTAP_BENCH_ROUNDS, default 3); the peak RSS is the
highest seen. SIGTAP_BENCH_MODES=unsigned,hex limits the PUT modes (default: all three for the
first size, unsigned for the others).

Upstream: nginx (dav PUT) with its root on /dev/shm, so the disk is not what is measured.
Client: curl streaming the body from a file (-T). Payload modes:
  unsigned  a presigned PUT (UNSIGNED-PAYLOAD)              sigtap verifies the URL, re-signs
  hex       header-signed with the body's SHA-256           sigtap also hashes the body on the fly
  chunked   signed aws-chunked (1 MiB chunks, each signed)  sigtap verifies every chunk and re-frames
Needs nginx and curl, and a release build (target/release/sigtap). Standard library only.
"""
import datetime
import hashlib
import hmac
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.environ.get("SIGTAP_BIN") or os.path.join(ROOT, "target/release/sigtap")
AK, SK, REGION = "AKIDBENCH00000000001", "bEnChSeCrEt/K7MDENG+bPxRfiCYEXAMPLEKEY", "us-east-1"
CHUNK = 1 << 20
ROUNDS = int(os.environ.get("SIGTAP_BENCH_ROUNDS", "3"))


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def wait_port(port):
    for _ in range(100):
        try:
            socket.create_connection(("127.0.0.1", port)).close()
            return
        except OSError:
            time.sleep(0.05)
    raise SystemExit("port %d never opened" % port)


def hmac256(key, msg):
    return hmac.new(key, msg.encode(), hashlib.sha256).digest()


def signing_key(date):
    k = hmac256(("AWS4" + SK).encode(), date)
    for part in (REGION, "s3", "aws4_request"):
        k = hmac256(k, part)
    return k


def sign_headers(method, host, path, headers, payload):
    """SigV4 header auth (S3 rules) over `headers` (dict, lower-case names) plus host."""
    now = datetime.datetime.now(datetime.timezone.utc)
    amz, date = now.strftime("%Y%m%dT%H%M%SZ"), now.strftime("%Y%m%d")
    h = dict(headers, host=host, **{"x-amz-date": amz, "x-amz-content-sha256": payload})
    names = sorted(h)
    creq = "\n".join([method, path, "", "".join("%s:%s\n" % (n, h[n]) for n in names), ";".join(names), payload])
    scope = "%s/%s/s3/aws4_request" % (date, REGION)
    sts = "\n".join(["AWS4-HMAC-SHA256", amz, scope, hashlib.sha256(creq.encode()).hexdigest()])
    key = signing_key(date)
    sig = hmac.new(key, sts.encode(), hashlib.sha256).hexdigest()
    h["authorization"] = "AWS4-HMAC-SHA256 Credential=%s/%s, SignedHeaders=%s, Signature=%s" % (
        AK, scope, ";".join(names), sig)
    return h, key, amz, scope, sig


def make_body(path, mib):
    block = os.urandom(CHUNK)
    with open(path, "wb") as f:
        for i in range(mib):
            f.write(hashlib.sha256(block + i.to_bytes(4, "big")).digest() * (CHUNK // 32))


def file_sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while True:
            b = f.read(CHUNK)
            if not b:
                return h.hexdigest()
            h.update(b)


def frame_chunked(src, dst, key, amz, scope, seed):
    prev, empty = seed, hashlib.sha256(b"").hexdigest()
    with open(src, "rb") as f, open(dst, "wb") as out:
        while True:
            data = f.read(CHUNK)
            sts = "\n".join(["AWS4-HMAC-SHA256-PAYLOAD", amz, scope, prev, empty, hashlib.sha256(data).hexdigest()])
            prev = hmac.new(key, sts.encode(), hashlib.sha256).hexdigest()
            out.write(b"%x;chunk-signature=%s\r\n" % (len(data), prev.encode()) + data + b"\r\n")
            if not data:
                return


def curl(args):
    t0 = time.monotonic()
    out = subprocess.run(["curl", "-sS", "-o", "/dev/null", "-w", "%{http_code}", "-H", "Expect:"] + args,
                         capture_output=True, text=True)
    return out.stdout.strip(), time.monotonic() - t0, out.stderr.strip()


class Sigtap:
    def __init__(self, upstream):
        self.p = subprocess.Popen([BIN, "proxy", "--upstream", upstream, "--port", "0", "--access-key", AK,
                                   "--secret-key", SK, "--log-file", "/dev/null"],
                                  stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        self.addr = self.p.stdout.readline().strip()

    def peak_mib(self):
        with open("/proc/%d/status" % self.p.pid) as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
        return 0.0

    def stop(self):
        self.p.terminate()
        self.p.wait()


def main():
    sizes = [int(s) for s in sys.argv[1:]] or [1024, 4096]
    shm = tempfile.mkdtemp(prefix="sigtap-large-", dir="/dev/shm")
    nginx = None
    try:
        www, tmp = os.path.join(shm, "www"), os.path.join(shm, "tmp")
        os.makedirs(os.path.join(www, "bucket"))
        os.makedirs(tmp)
        os.chmod(shm, 0o777)
        for d in (www, tmp, os.path.join(www, "bucket")):
            os.chmod(d, 0o777)
        port, nport = free_port(), free_port()
        conf = os.path.join(shm, "nginx.conf")
        with open(conf, "w") as f:
            f.write("worker_processes auto; daemon off; pid %s/nginx.pid; error_log %s/err.log;\n"
                    "events { worker_connections 1024; }\n"
                    "http { access_log off; client_max_body_size 0; client_body_temp_path %s;\n"
                    "  server { listen 127.0.0.1:%d; root %s; location / { dav_methods PUT; } }\n"
                    "  server { listen 127.0.0.1:%d; location / { proxy_pass http://127.0.0.1:%d;\n"
                    "    proxy_http_version 1.1; proxy_request_buffering off; proxy_buffering off; } } }\n"
                    % (shm, shm, tmp, port, www, nport, port))
        nginx = subprocess.Popen(["nginx", "-c", conf, "-p", shm], stderr=subprocess.DEVNULL)
        wait_port(port)
        up = "http://127.0.0.1:%d" % port
        print("machine: %d cores, %s; nginx on /dev/shm; curl -T; 1 MiB aws-chunked chunks" % (
            os.cpu_count(), os.uname().release))
        print()
        print("| size | request | mode | direct MiB/s | nginx proxy_pass MiB/s | sigtap MiB/s | sigtap / direct | sigtap / nginx | sigtap peak RSS |")
        print("|---|---|---|---|---|---|---|---|---|")
        for mib in sizes:
            body = os.path.join(shm, "body.bin")
            make_body(body, mib)
            sha = file_sha256(body)
            modes = ["unsigned", "hex", "chunked"] if mib == sizes[0] else ["unsigned"]
            if os.environ.get("SIGTAP_BENCH_MODES"):
                modes = os.environ["SIGTAP_BENCH_MODES"].split(",")
            for mode in modes:
                results = {"direct": (0, None), "nginx": (0, None), "sigtap": (0, 0)}
                for via in ("direct", "nginx", "sigtap") * ROUNDS:
                    st = Sigtap(up) if via == "sigtap" else None
                    host = st.addr if st else "127.0.0.1:%d" % (nport if via == "nginx" else port)
                    path = "/bucket/%s-%s.bin" % (mode, via)
                    send = body
                    if mode == "unsigned":
                        url = subprocess.run([BIN, "presign", "--scheme", "sigv4", "--region", REGION, "--access-key",
                                              AK, "--secret-key", SK, "-"],
                                             input="PUT %s HTTP/1.1\r\nHost: %s\r\n\r\n" % (path, host),
                                             capture_output=True, text=True).stdout.strip()
                        args = ["-T", send, "http://%s%s" % (host, url.split(host, 1)[1])]
                    elif mode == "hex":
                        h, *_ = sign_headers("PUT", host, path, {"content-length": str(mib * CHUNK)}, sha)
                        args = ["-T", send] + sum([["-H", "%s: %s" % kv] for kv in h.items() if kv[0] != "host"], []) \
                            + ["http://%s%s" % (host, path)]
                    else:
                        framed_len = sum(len("%x;chunk-signature=" % n) + 64 + 4 + n for n in
                                         [CHUNK] * mib + [0])
                        h, key, amz, scope, seed = sign_headers("PUT", host, path, {
                            "content-encoding": "aws-chunked", "content-length": str(framed_len),
                            "x-amz-decoded-content-length": str(mib * CHUNK)}, "STREAMING-AWS4-HMAC-SHA256-PAYLOAD")
                        send = os.path.join(shm, "framed.bin")
                        frame_chunked(body, send, key, amz, scope, seed)
                        args = ["-T", send] + sum([["-H", "%s: %s" % kv] for kv in h.items() if kv[0] != "host"], []) \
                            + ["http://%s%s" % (host, path)]
                    code, secs, err = curl(args)
                    if code not in ("200", "201", "204"):
                        raise SystemExit("%s %s PUT answered %s %s" % (mode, via, code, err))
                    best, peak = results[via]
                    results[via] = (max(best, mib / secs), max(peak, st.peak_mib()) if st else None)
                    if st:
                        st.stop()
                    if send != body:
                        os.remove(send)
                    # tmpfs holds everything: keep one stored object (the GET below reads it)
                    stored = os.path.join(www, "bucket", "%s-%s.bin" % (mode, via))
                    if os.path.exists(stored) and not (mode == "unsigned" and via == "direct"):
                        os.remove(stored)
                d, n, s = results["direct"][0], results["nginx"][0], results["sigtap"][0]
                print("| %d MiB | PUT | %s | %.0f | %.0f | %.0f | %.2fx | %.2fx | %.1f MiB |" % (
                    mib, mode, d, n, s, s / d, s / n, results["sigtap"][1]))
            # GET of the stored object, presigned through sigtap
            res = {"direct": (0, None), "nginx": (0, None), "sigtap": (0, 0)}
            for via in ("direct", "nginx", "sigtap") * ROUNDS:
                st = Sigtap(up) if via == "sigtap" else None
                host = st.addr if st else "127.0.0.1:%d" % (nport if via == "nginx" else port)
                url = subprocess.run([BIN, "presign", "--scheme", "sigv4", "--region", REGION, "--access-key", AK,
                                      "--secret-key", SK, "http://%s/bucket/unsigned-direct.bin" % host],
                                     capture_output=True, text=True).stdout.strip()
                code, secs, err = curl([url])
                if code != "200":
                    raise SystemExit("GET %s answered %s %s" % (via, code, err))
                best, peak = res[via]
                res[via] = (max(best, mib / secs), max(peak, st.peak_mib()) if st else None)
                if st:
                    st.stop()
            d, n, s = res["direct"][0], res["nginx"][0], res["sigtap"][0]
            print("| %d MiB | GET | presigned | %.0f | %.0f | %.0f | %.2fx | %.2fx | %.1f MiB |" % (
                mib, d, n, s, s / d, s / n, res["sigtap"][1]))
            for f in os.listdir(os.path.join(www, "bucket")):
                os.remove(os.path.join(www, "bucket", f))
            os.remove(body)
    finally:
        if nginx:
            nginx.terminate()
            nginx.wait()
        shutil.rmtree(shm, ignore_errors=True)


if __name__ == "__main__":
    main()
