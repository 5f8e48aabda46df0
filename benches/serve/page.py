#!/usr/bin/env python3
"""Page load time of `tl serve`'s page in headless Chromium, for
benches/serve.sh: Debian's `chromium` driven by `chromedriver` over the raw
WebDriver protocol (JSON over HTTP on 127.0.0.1, urllib only; nothing
downloads a browser).

  page.py ADDR TOKEN REPS

Opens /?token=TOKEN once (the server sets its cookie), then loads / REPS
times in a fresh tab state (each load a navigation to /) and reads, per load,
from the Navigation Timing entry: responseEnd of the HTML, DOMContentLoaded,
loadEventEnd, and the page's `tree-shown` mark (app.js sets it when the first
tree is in the DOM: the checkpoints, the activity and the tree fetched and
drawn). Prints each load and the median of each. Stops by itself: every wait
is bounded.
"""

import json
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

WAIT_S = 60


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class Driver:
    def __init__(self):
        exe = shutil.which("chromedriver")
        browser = shutil.which("chromium")
        if not exe or not browser:
            sys.exit("chromium or chromedriver is missing: apt-get install -y chromium chromium-driver")
        self.port = free_port()
        self.proc = subprocess.Popen(
            [exe, f"--port={self.port}"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        self.profile = tempfile.mkdtemp(prefix="tl-serve-page.")
        deadline = time.monotonic() + 20
        while True:
            try:
                self.call("GET", "/status")
                break
            except OSError:
                if time.monotonic() > deadline:
                    sys.exit("chromedriver did not answer within 20 s")
                time.sleep(0.1)
        caps = {"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": browser,
                "args": ["--headless=new", "--no-sandbox", "--disable-gpu",
                         "--disable-dev-shm-usage", "--window-size=1400,900",
                         f"--user-data-dir={self.profile}"],
            },
        }}}
        self.session = self.call("POST", "/session", caps)["sessionId"]

    def call(self, method, path, body=None):
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(
            f"http://127.0.0.1:{self.port}{path}", data=data, method=method,
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(req, timeout=WAIT_S) as r:
            return json.load(r)["value"]

    def s(self, rest):
        return f"/session/{self.session}{rest}"

    def go(self, url):
        self.call("POST", self.s("/url"), {"url": url})

    def run(self, script):
        return self.call("POST", self.s("/execute/sync"), {"script": script, "args": []})

    def close(self):
        try:
            self.call("DELETE", self.s(""))
        finally:
            self.proc.terminate()
            self.proc.wait(10)
            shutil.rmtree(self.profile, ignore_errors=True)


TIMES = """
const n = performance.getEntriesByType('navigation')[0];
const m = performance.getEntriesByName('tree-shown')[0];
if (!n || !m || n.loadEventEnd === 0) return null;
return {html: n.responseEnd, dcl: n.domContentLoadedEventEnd, load: n.loadEventEnd,
        tree: m.startTime, files: document.querySelectorAll('#tree li').length};
"""


def main(argv):
    if len(argv) != 4:
        sys.exit(__doc__)
    addr, token, reps = argv[1], argv[2], int(argv[3])
    d = Driver()
    try:
        d.go(f"http://{addr}/?token={token}")
        rows = []
        for r in range(reps + 1):
            d.go("about:blank")
            d.go(f"http://{addr}/")
            deadline = time.monotonic() + WAIT_S
            while (t := d.run(TIMES)) is None:
                if time.monotonic() > deadline:
                    sys.exit(f"the page showed no tree within {WAIT_S} s")
                time.sleep(0.05)
            if r == 0:
                continue  # the first load warms the browser's own caches
            rows.append(t)
            print(f"load {r}: html {t['html']:.1f} ms, DOMContentLoaded {t['dcl']:.1f} ms, "
                  f"loadEventEnd {t['load']:.1f} ms, tree shown {t['tree']:.1f} ms "
                  f"({t['files']} files listed)", flush=True)
        med = {k: statistics.median(r[k] for r in rows) for k in ("html", "dcl", "load", "tree")}
        print(f"page median of {reps}: navigationStart→loadEventEnd {med['load']:.1f} ms, "
              f"→tree shown {med['tree']:.1f} ms (html {med['html']:.1f}, "
              f"DOMContentLoaded {med['dcl']:.1f})")
    finally:
        d.close()


if __name__ == "__main__":
    main(sys.argv)
