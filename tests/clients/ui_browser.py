#!/usr/bin/env python3
"""Drive sigtap's web view in headless Chromium while real boto3 sends requests through the proxy.

    ui_browser.py UI_URL PROXY_URL AK SK BUCKET SCREENSHOT [BULK_UI_URL BULK_PROXY_URL]

UI_URL is `sigtap proxy --ui` in front of a verifying upstream (s3s-fs) that holds AK/SK. The
optional BULK pair is a second proxy (the embedded default) used to fill the list with 10 000
requests. Prints what it checked; exits non-zero (with the reason) on the first failure.
"""
import datetime
import http.client
import json
import re
import sys
import time
import urllib.parse
import urllib.request

import boto3
import botocore.auth
from botocore.config import Config
from botocore.exceptions import ClientError
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys

ui, proxy, ak, sk, bucket, shot = sys.argv[1:7]
bulk = sys.argv[7:9]
TOKEN = "IQoJb3JpZ2luX2VjEJr//////////wEaCXVzLWVhc3QtMSJHMEUCIQDsigtapUiTestSessionToken0123456789abcdef"
sent_signatures = []
t_start = time.time()


def fail(msg):
    print("FAIL: " + msg, flush=True)
    sys.exit(1)


def step(msg):
    print("[%5.1fs] %s" % (time.time() - t_start, msg), flush=True)


def client(token=None):
    c = boto3.client("s3", endpoint_url=proxy, region_name="us-east-1", aws_access_key_id=ak,
                     aws_secret_access_key=sk, aws_session_token=token,
                     config=Config(signature_version="s3v4", s3={"addressing_style": "path"},
                                   retries={"max_attempts": 1}))

    def keep_signature(request, **_):
        auth = request.headers.get("Authorization", "")
        if isinstance(auth, bytes):
            auth = auth.decode("latin-1")
        m = re.search(r"Signature=([0-9a-f]{64})", auth)
        if m:
            sent_signatures.append(m.group(1))
    c.meta.events.register("before-send.s3", keep_signature)
    return c


opts = webdriver.ChromeOptions()
opts.binary_location = "/usr/bin/chromium"
for a in ["--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1600,1000",
          "--no-first-run", "--disable-background-networking", "--disable-component-update",
          "--disable-default-apps", "--disable-sync", "--metrics-recording-only"]:
    opts.add_argument(a)
opts.set_capability("goog:loggingPrefs", {"browser": "ALL", "performance": "ALL"})
driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=opts)
driver.set_script_timeout(30)
origin = ui.rstrip("/")


def js(script, *args):
    return driver.execute_script(script, *args)


def wait(what, cond, timeout=10.0, every=0.02):
    end = time.time() + timeout
    while time.time() < end:
        v = cond()
        if v:
            return v
        time.sleep(every)
    fail("timed out waiting for " + what)


def rows():
    return js("return [...document.querySelectorAll('[data-request-id]')].map(r => "
              "({id: +r.dataset.requestId, text: r.textContent, status: r.querySelector('.c-status').textContent, "
              "verdict: r.querySelector('.c-verdict').textContent, findings: r.querySelector('.c-findings').textContent}))")


def wait_rows(n, what):
    """Waits for at least n list entries; returns the seconds it took."""
    t0 = time.time()
    wait(what, lambda: len(rows()) >= n, timeout=5)
    return time.time() - t0


try:
    driver.get(ui)
    wait("the live stream", lambda: js("return document.getElementById('live').className") == "live on")
    if rows():
        fail("the list is not empty before any request: %r" % rows())
    step("page loaded, live stream open, list empty")

    # --- the list fills live, within a second of each answer ---
    c = client()
    slowest = 0.0
    c.create_bucket(Bucket=bucket)
    slowest = max(slowest, wait_rows(1, "the CreateBucket entry"))
    c.put_object(Bucket=bucket, Key="notes/hello.txt", Body=b"hello web view", ContentType="text/plain")
    slowest = max(slowest, wait_rows(2, "the PutObject entry"))
    c.get_object(Bucket=bucket, Key="notes/hello.txt")["Body"].read()
    slowest = max(slowest, wait_rows(3, "the GetObject entry"))

    # a gateway that adds '; charset=utf-8' after signing: sigtap refuses it with a diff
    bad = client()
    bad.meta.events.register("before-send.s3.PutObject",
                             lambda request, **_: request.headers.__setitem__("Content-Type", "text/plain; charset=utf-8"))
    try:
        bad.put_object(Bucket=bucket, Key="notes/changed.txt", Body=b"changed", ContentType="text/plain")
        fail("the changed PutObject was not refused")
    except ClientError as e:
        if e.response["Error"]["Code"] != "SignatureDoesNotMatch":
            fail("the changed PutObject got %r" % e.response["Error"])
    slowest = max(slowest, wait_rows(4, "the refused PutObject entry"))

    # a client whose clock is 20 minutes behind: clock-skew, re-signed by sigtap, 200
    real_now = botocore.auth.get_current_datetime
    botocore.auth.get_current_datetime = lambda *a, **k: real_now(*a, **k) - datetime.timedelta(minutes=20)
    try:
        client().head_object(Bucket=bucket, Key="notes/hello.txt")
    finally:
        botocore.auth.get_current_datetime = real_now
    slowest = max(slowest, wait_rows(5, "the skewed HeadObject entry"))

    # a temporary key's session token: never shown whole
    try:
        client(TOKEN).list_objects_v2(Bucket=bucket)
    except ClientError:
        pass
    slowest = max(slowest, wait_rows(6, "the session-token entry"))
    # how long is reported, not asserted: the test checks that entries arrive live (no reload)
    step("6 boto3 requests listed live; slowest appeared %.0f ms after its answer" % (slowest * 1000))

    # --- clicking the mismatched request shows the cause and the diff ---
    mismatch = [r for r in rows() if "signature-mismatch" in r["text"]]
    if len(mismatch) != 1:
        fail("expected one signature-mismatch entry, rows: %r" % rows())
    driver.find_element(By.CSS_SELECTOR, '[data-request-id="%d"]' % mismatch[0]["id"]).click()
    wait("the detail of the mismatch", lambda: "header-changed" in driver.find_element(By.ID, "detail").text)
    detail = driver.find_element(By.ID, "detail")
    changed = js("return [...document.querySelectorAll('#detail table.diff tr.changed')].map(tr => "
                 "[tr.querySelector('.signed').textContent, tr.querySelector('.received').textContent])")
    if ["content-type:text/plain", "content-type:text/plain; charset=utf-8"] not in changed:
        fail("the diff does not show the changed content-type side by side: %r" % changed)
    for sel in ["#detail .finding .cause", "#detail table.diff", "#detail pre", "#filter", "#viewport"]:
        e = driver.find_element(By.CSS_SELECTOR, sel)
        if not e.is_displayed():
            fail(sel + " is not visible with the detail open")
    text = detail.text
    for want in ["signature-mismatch", "header-changed", "string to sign", "canonical request", "expected signature",
                 "provided signature", "what sigtap did", "rejected", "copy as curl", "copy as sigtap inspect"]:
        if want not in text:
            fail("the detail lacks %r" % want)
    if js("return document.querySelectorAll('#detail [data-request-id]').length") != 0:
        fail("the detail panel carries data-request-id")
    step("the mismatch's detail shows the cause, the side-by-side diff and the stages together")

    # --- the search box filters as one types ---
    box = driver.find_element(By.ID, "filter")
    for query, check in [("clock-skew", lambda r: "clock-skew" in r["findings"]),
                         ("status:403", lambda r: r["status"] == "403"),
                         ("verdict:invalid", lambda r: r["verdict"] == "invalid")]:
        box.send_keys(Keys.CONTROL, "a")
        box.send_keys(Keys.BACKSPACE)
        box.send_keys(query)
        got = wait("the filter " + query, lambda: (lambda rs: rs if 0 < len(rs) < 6 else None)(rows()), timeout=3)
        bad_rows = [r for r in got if not check(r)]
        if bad_rows:
            fail("filter %s lets through %r" % (query, bad_rows))
        step("filter %-16s -> %d of 6 entries" % (query, len(got)))
    box.send_keys(Keys.CONTROL, "a")
    box.send_keys(Keys.BACKSPACE)
    wait("the filter cleared", lambda: len(rows()) == 6)

    # the summary bar counts verdicts and findings, and shows the client clock offset seen
    summary = driver.find_element(By.ID, "summary").text
    for want in ["6 requests", "valid 4", "invalid 2", "signature-mismatch [header-changed]", "clock-skew"]:
        if want not in summary:
            fail("the summary bar lacks %r: %r" % (want, summary))
    if not re.search(r"−20m", summary):
        fail("the summary bar lacks the client's -20m clock offset: %r" % summary)

    driver.find_element(By.CSS_SELECTOR, '[data-request-id="%d"]' % mismatch[0]["id"]).click()
    wait("the detail again", lambda: "header-changed" in driver.find_element(By.ID, "detail").text)
    time.sleep(0.3)
    driver.save_screenshot(shot)
    step("screenshot written to " + shot)

    # --- no secret, no whole session token, no full signature in the page or its data ---
    def fetch(path):
        return driver.execute_async_script(
            "const done = arguments[1]; fetch(arguments[0]).then(r => r.text()).then(done, e => done('ERR ' + e));", path)
    data = [driver.page_source, fetch("/api/requests"), fetch("/api/meta"), fetch("/api/export.jsonl"), fetch("/api/export.har")]
    data += [fetch("/api/requests/%d" % r["id"]) for r in rows()]
    # the live stream as a new client reads it (a few seconds of it)
    conn = http.client.HTTPConnection(urllib.parse.urlsplit(ui).netloc, timeout=2)
    conn.request("GET", "/api/events")
    resp = conn.getresponse()
    stream = b""
    try:
        while b"event: request" not in stream or stream.count(b"event: request") < 6:
            chunk = resp.read1(65536)
            if not chunk:
                break
            stream += chunk
    except Exception:
        pass
    conn.close()
    if stream.count(b"event: request") < 6:
        fail("the live stream did not replay the 6 kept requests: %r" % stream[:300])
    data.append(stream.decode("utf-8", "replace"))
    if len(sent_signatures) < 6:
        fail("boto3's signatures were not captured: %r" % sent_signatures)
    for text in data:
        for secret, what in [(sk, "the secret key"), (TOKEN, "the session token")] + [(s, "a signature") for s in sent_signatures]:
            if secret in text:
                fail("%s appears whole in the page or its data" % what)
    if TOKEN[:8] + "…" not in data[1] and TOKEN[:8] not in "".join(data):
        fail("the session-token request is not in the data at all")
    step("no secret, session token or full signature in the page, its data, exports or the live stream "
         "(%d signatures checked)" % len(sent_signatures))

    # --- the embedded default, filled with 10 000 requests: the list stays fast ---
    if bulk:
        bulk_ui, bulk_proxy = bulk
        u = urllib.parse.urlsplit(bulk_proxy)
        conn = http.client.HTTPConnection(u.hostname, u.port, timeout=10)
        t0 = time.time()
        for i in range(10000):
            conn.request("GET", "/bulk-bucket/object-%05d" % i, headers={"Host": u.netloc})
            conn.getresponse().read()
        conn.close()
        step("10000 requests through the embedded default in %.1fs" % (time.time() - t0))
        driver.get(bulk_ui)
        t0 = time.time()
        wait("10000 entries", lambda: js("return document.getElementById('summary').textContent.includes('10000 requests')"),
             timeout=60, every=0.1)
        loaded = time.time() - t0
        dom = js("return document.querySelectorAll('[data-request-id]').length")
        if dom > 200:
            fail("the list puts %d rows in the page for 10000 entries (not virtualized)" % dom)
        # typing in the search box: time from input to the list drawn
        # typing in the search box: time from input to the filtered list drawn
        took = driver.execute_async_script("""
            const done = arguments[0], box = document.getElementById('filter');
            const t0 = performance.now();
            box.value = 'object-0999'; box.dispatchEvent(new Event('input'));
            const check = () => {
              const n = document.querySelectorAll('[data-request-id]').length;
              if (n === 10 || performance.now() - t0 > 3000) done([performance.now() - t0, n]);
              else requestAnimationFrame(check);
            };
            requestAnimationFrame(check);""")
        if took[1] != 10:
            fail("filtering 10000 entries for object-0999 shows %d rows" % took[1])
        scroll = driver.execute_async_script("""
            const done = arguments[0], v = document.getElementById('viewport'), box = document.getElementById('filter');
            box.value = ''; box.dispatchEvent(new Event('input'));
            setTimeout(() => {
              const t0 = performance.now();
              v.scrollTop = v.scrollHeight / 2;
              const want = String(Math.floor(v.scrollTop / 24));
              const check = () => {
                const ids = [...document.querySelectorAll('[data-request-id]')].map(r => r.dataset.requestId);
                if (ids.includes(want) || performance.now() - t0 > 3000) done([performance.now() - t0, ids.length, ids.includes(want)]);
                else requestAnimationFrame(check);
              };
              requestAnimationFrame(check);
            }, 100);""")
        if not scroll[2] or scroll[1] > 200:
            fail("scrolling to the middle of 10000 entries did not draw them (%r)" % scroll)
        step("10000 entries listed %.1fs after load, %d rows in the page, filter drawn in %.0f ms, scroll in %.0f ms"
             % (loaded, dom, took[0], scroll[0]))

    # --- nothing left the page's origin, and the console stayed clean ---
    urls = js("return performance.getEntriesByType('resource').map(e => e.name).concat([location.href])")
    for entry in driver.get_log("performance"):
        msg = json.loads(entry["message"])["message"]
        if msg.get("method") == "Network.requestWillBeSent":
            urls.append(msg["params"]["request"]["url"])
    allowed = (origin, bulk[0].rstrip("/") if bulk else origin)
    outside = [x for x in urls if not x.startswith(allowed) and not x.startswith(("data:", "blob:"))]
    if outside:
        fail("requests left the page's origin: %r" % outside[:5])
    errors = [e for e in driver.get_log("browser") if e["level"] in ("SEVERE", "ERROR")]
    if errors:
        fail("console errors: %r" % errors)
    step("%d requests seen by the browser, all to the page's origin; no console errors" % len(urls))
finally:
    driver.quit()
print("OK")
