#!/usr/bin/env python3
"""Drives headless Chromium (Debian's `chromium`) over the DevTools protocol on a pipe (no
dependencies beyond Python's standard library) against a running `lpft sweep serve`:
checks that the overview's completed count changes without a reload and that no page logs
an error, and saves screenshots of the overview, the trials table and one trial's page.

Usage: check_dashboard.py URL OUT_DIR
"""
import base64, json, os, subprocess, sys, time

url, out = sys.argv[1].rstrip("/"), sys.argv[2]


class Browser:
    """Chromium with --remote-debugging-pipe: commands on its fd 3, answers on its fd 4."""

    def __init__(self):
        to_chrome_r, self.to_chrome = os.pipe()
        self.from_chrome, from_chrome_w = os.pipe()
        os.set_inheritable(to_chrome_r, True)
        os.set_inheritable(from_chrome_w, True)
        # The child gets the pipe ends as fds 3 and 4, which is where Chromium looks; the
        # parent's ends it must not hold are closed there.
        def child():
            os.dup2(to_chrome_r, 100)
            os.dup2(from_chrome_w, 101)
            os.dup2(100, 3)
            os.dup2(101, 4)
            for fd in (100, 101, self.to_chrome, self.from_chrome):
                if fd > 4:
                    os.close(fd)
        self.process = subprocess.Popen(
            ["chromium", "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--remote-debugging-pipe",
             "--window-size=1300,1000", "about:blank"],
            preexec_fn=child, pass_fds=(3, 4, to_chrome_r, from_chrome_w), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        os.close(to_chrome_r)
        os.close(from_chrome_w)
        self.buffer, self.next_id, self.events, self.session = b"", 0, [], None

    def send(self, method, session=True, **params):
        self.next_id += 1
        message = {"id": self.next_id, "method": method, "params": params}
        if session and self.session:
            message["sessionId"] = self.session
        os.write(self.to_chrome, json.dumps(message).encode() + b"\0")
        while True:
            reply = self.receive()
            if reply.get("id") == self.next_id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply.get("result", {})

    def receive(self):
        while b"\0" not in self.buffer:
            chunk = os.read(self.from_chrome, 1 << 20)
            if not chunk:
                raise RuntimeError("chromium closed its DevTools pipe")
            self.buffer += chunk
        raw, self.buffer = self.buffer.split(b"\0", 1)
        message = json.loads(raw)
        if "method" in message:
            self.events.append(message)
        return message

    def open(self, address):
        target = self.send("Target.createTarget", session=False, url="about:blank")["targetId"]
        self.session = self.send("Target.attachToTarget", session=False, targetId=target, flatten=True)["sessionId"]
        for domain in ("Page", "Runtime", "Log"):
            self.send(domain + ".enable")
        self.send("Page.navigate", url=address)
        self.wait_for("Page.loadEventFired")

    def wait_for(self, method, timeout=20):
        deadline = time.time() + timeout
        while time.time() < deadline:
            if any(e["method"] == method for e in self.events):
                self.events = [e for e in self.events if e["method"] != method]
                return
            self.receive()
        raise RuntimeError(f"no {method} within {timeout} s")

    def evaluate(self, expression):
        return self.send("Runtime.evaluate", expression=expression, returnByValue=True)["result"].get("value")

    def screenshot(self, path):
        height = self.evaluate("document.documentElement.scrollHeight")
        self.send("Emulation.setDeviceMetricsOverride", width=1300, height=min(max(height, 600), 2400), deviceScaleFactor=1, mobile=False)
        with open(path, "wb") as f:
            f.write(base64.b64decode(self.send("Page.captureScreenshot", format="png")["data"]))

    def errors(self):
        """Console errors and warnings, uncaught exceptions, and failed loads the page logged."""
        found = []
        for e in self.events:
            p = e.get("params", {})
            if e["method"] == "Runtime.exceptionThrown":
                found.append(p["exceptionDetails"].get("text", "exception"))
            elif e["method"] == "Runtime.consoleAPICalled" and p.get("type") in ("error", "warning", "assert"):
                found.append(" ".join(str(a.get("value", a.get("description", ""))) for a in p.get("args", [])))
            elif e["method"] == "Log.entryAdded" and p["entry"]["level"] in ("error", "warning"):
                found.append(p["entry"]["text"] + " " + p["entry"].get("url", ""))
        return found


browser = Browser()
try:
    browser.open(url + "/")
    browser.evaluate("window.lpftCheckMarker = 'still the same page'")
    completed = lambda: int(browser.evaluate("document.getElementById('count-completed').textContent"))
    first, deadline = completed(), time.time() + 60
    while completed() == first and time.time() < deadline:
        time.sleep(0.5)
        browser.events = browser.events[-1000:]
    later = completed()
    same_page = browser.evaluate("window.lpftCheckMarker") == "still the same page"
    if later == first or not same_page:
        sys.exit(f"check-dashboard: the completed count stayed at {first} (or the page reloaded: {not same_page})")
    print(f"check-dashboard: the overview's completed count went from {first} to {later} without a reload")
    browser.screenshot(os.path.join(out, "dashboard-overview.png"))
    browser.open(url + "/trials?sort=test%2Faccuracy&desc=1&limit=25")
    browser.screenshot(os.path.join(out, "dashboard-trials.png"))
    trial = browser.evaluate("document.querySelector('td a[href^=\"/trials/\"]').getAttribute('href')")
    browser.open(url + trial)
    browser.screenshot(os.path.join(out, "dashboard-trial.png"))
    errors = browser.errors()
    if errors:
        sys.exit("check-dashboard: the pages logged errors:\n  " + "\n  ".join(errors))
    print(f"check-dashboard: overview, trials and {trial} rendered with no console errors; screenshots in {out}")
finally:
    browser.process.kill()
    browser.process.wait()
