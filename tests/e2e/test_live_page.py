"""The built-in live page (settlement's /live) in a real headless Chromium while the seed day runs.

The six services run as processes against a real broker; Debian's chromium, driven through
chromedriver's WebDriver HTTP API (stdlib only), opens the page before the day starts and keeps
it open while `degflex replay` drives the day at 3600x. The page must follow the day over its
server-sent events without reloading: Cambridge at 1200 kW, then 900 kW after the 14:00 stress
event, Manchester at 1500 kW, the battery down to 15 %, both orders completed with the
statement's costs. Screenshots go to the test's tmp dir (and to $DEGFLEX_SCREENSHOT_DIR when set:
docs/img/live-page.png is one of them).
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from contracts.scenario import load_scenario
from services.replay.driver import ServiceProcs, create_topics

REPO = Path(__file__).resolve().parents[2]
SEED = REPO / "scenarios" / "seed-cambridge-manchester.yaml"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"
SPEED = 3600  # an event day in 24 s; the 14:00-16:00 event lasts 2 s of wall time
CAM, MAN = "cambridge-east", "manchester"
CAM_ORDER, MAN_ORDER = "order-cambridge-east-20251117", "order-manchester-20251117"

pytestmark = [
    pytest.mark.e2e, pytest.mark.kafka,
    pytest.mark.skipif(not (Path(CHROMIUM).is_file() and Path(CHROMEDRIVER).is_file()),
                       reason="Debian's chromium is not installed (apt-get install chromium "
                              "chromium-driver gives /usr/bin/chromium and /usr/bin/chromedriver)"),
]

READ = """
const q = (s) => document.querySelector(s);
const v = (s) => { const e = q(s); return e ? e.getAttribute("data-value") : null; };
const site = (id, f) => v(`#sites [data-site="${id}"] [data-field="${f}"]`);
const order = (id, f) => { const e = q(`#orders [data-order="${id}"] [data-field="${f}"]`);
                           return e ? (e.getAttribute("data-value") ?? e.textContent) : null; };
const load = (id, f) => v(`#stress [data-site="${id}"] [data-field="${f}"]`);
return {
  clock: q("#clock").textContent, conn: q("#conn").textContent,
  updates: window.__live.updates, loadedAt: window.__live.loadedAt,
  cam: site("cambridge-east", "load_kw"), man: site("manchester", "load_kw"),
  camImport: site("cambridge-east", "import_kw"), camBattery: site("cambridge-east", "battery_kw"),
  camSoc: site("cambridge-east", "battery_soc_pct"),
  camState: order("order-cambridge-east-20251117", "state"),
  manState: order("order-manchester-20251117", "state"),
  camCost: order("order-cambridge-east-20251117", "cost_gbp"),
  manCost: order("order-manchester-20251117", "cost_gbp"),
  camBefore: load("cambridge-east", "before"), camAfter: load("cambridge-east", "after"),
  manBefore: load("manchester", "before"), manAfter: load("manchester", "after"),
  events: [...document.querySelectorAll("#events li span")].map((e) => e.textContent),
  height: document.documentElement.scrollHeight,
};
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _until(what: str, check: Callable[[], Any], timeout_s: float, every_s: float = 0.1) -> Any:
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            got = check()
            if got:
                return got
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what} within {timeout_s:.0f} s")
        time.sleep(every_s)


class Browser:
    """A headless Chromium session through chromedriver's W3C WebDriver endpoints."""

    def __init__(self, driver: str, profile: Path) -> None:
        self._driver = driver
        caps = {"browserName": "chrome", "goog:chromeOptions": {
            "binary": CHROMIUM,
            "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                     "--hide-scrollbars", "--window-size=1400,1250", "--force-device-scale-factor=1",
                     f"--user-data-dir={profile}"]}}
        self._session = self._call("POST", "/session",
                                   {"capabilities": {"alwaysMatch": caps}})["sessionId"]

    def _call(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self._driver + path, data=data, method=method,
                                     headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=60) as r:
            return json.loads(r.read())["value"]

    def _s(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        return self._call(method, f"/session/{self._session}{path}", body)

    def get(self, url: str) -> None:
        self._s("POST", "/url", {"url": url})

    def js(self, script: str) -> Any:
        return self._s("POST", "/execute/sync", {"script": script, "args": []})

    def screenshot(self) -> bytes:
        return base64.b64decode(self._s("GET", "/screenshot"))

    def quit(self) -> None:
        self._s("DELETE", "")


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[Browser]:
    port = _free_port()
    with open(tmp_path / "chromedriver.log", "wb") as log:
        driver = subprocess.Popen([CHROMEDRIVER, f"--port={port}"], stdout=log,
                                  stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    b = None
    try:
        _until("chromedriver ready", lambda: json.loads(
            urllib.request.urlopen(f"{url}/status", timeout=1).read())["value"]["ready"], 20)
        b = Browser(url, tmp_path / "profile")
        yield b
    finally:
        if b is not None:
            try:
                b.quit()
            except OSError:
                pass
        driver.terminate()
        try:
            driver.wait(10)
        except subprocess.TimeoutExpired:
            driver.kill()
            driver.wait()


def _num(v: str | None) -> float | None:
    return None if v in (None, "") else float(v)


def _save(name: str, png: bytes, tmp: Path) -> None:
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    (tmp / name).write_bytes(png)
    out = os.environ.get("DEGFLEX_SCREENSHOT_DIR")
    if out:
        Path(out).mkdir(parents=True, exist_ok=True)
        (Path(out) / name).write_bytes(png)


def test_the_live_page_follows_the_seed_day(kafka_bootstrap: str, browser: Browser,
                                            tmp_path: Path) -> None:
    sc = load_scenario(SEED)
    prefix = f"e2e.live.{uuid.uuid4().hex[:8]}."
    procs = ServiceProcs()
    replay: subprocess.Popen[bytes] | None = None
    try:
        asyncio.run(create_topics(kafka_bootstrap, prefix))
        procs.start(kafka_bootstrap, prefix, sc, SEED, tmp_path / "logs")
        procs.wait_ready(90, tmp_path / "logs")
        browser.get(f"http://127.0.0.1:{procs.ports['settlement']}/live")
        first = _until("the page connected to its stream", lambda: (
            r := browser.js(READ))["updates"] >= 1 and r["conn"] == "live" and r, 20)
        assert first["cam"] is None and first["camState"] is None  # nothing has happened yet

        summary = tmp_path / "summary.json"
        with open(tmp_path / "replay.log", "wb") as log:
            replay = subprocess.Popen(
                [sys.executable, "-m", "services.cli", "replay", "--bootstrap", kafka_bootstrap,
                 "--prefix", prefix, "--speed", str(SPEED), "--summary", str(summary)],
                stdout=log, stderr=subprocess.STDOUT, cwd=REPO)
        seen: list[dict[str, Any]] = []
        during: bytes | None = None
        while replay.poll() is None:
            now = browser.js(READ)
            seen.append(now)
            if during is None and _num(now["cam"]) == 900 and now["clock"][-5:] >= "14:20":
                png = browser.screenshot()
                if _num(browser.js(READ)["cam"]) == 900:  # still inside the event
                    during = png
            time.sleep(0.1)
        assert replay.returncode == 0, (tmp_path / "replay.log").read_text()

        final = _until("both orders completed on the page", lambda: (
            r := browser.js(READ))["camState"] == "COMPLETED" and r["manState"] == "COMPLETED"
            and r, 30)
        after = browser.screenshot()
    finally:
        if replay is not None and replay.poll() is None:
            replay.kill()
            replay.wait()
        procs.stop()

    # one page load, updated over its stream the whole day
    assert {r["loadedAt"] for r in seen} == {first["loadedAt"]} == {final["loadedAt"]}
    assert final["updates"] > 20
    clocks = [r["clock"] for r in seen if r["clock"] != "--:--"]
    assert clocks == sorted(clocks) and len(set(clocks)) > 10
    # Cambridge ran batch-a at 1200 kW, then 900 kW once 300 kW moved away at 14:00 (the live
    # "now" figure, seen while the event ran), with the battery covering 150 kW
    cam = [_num(r["cam"]) for r in seen if r["cam"] is not None]
    assert 1200 in cam and 900 in cam and cam.index(1200) < cam.index(900)
    inside = [r for r in seen if _num(r["cam"]) == 900]
    assert {(_num(r["camImport"]), _num(r["camBattery"])) for r in inside} == {(750, 150)}
    assert 1500 in [_num(r["man"]) for r in seen]
    assert during is not None, "no screenshot while Cambridge ran at 900 kW"
    # what the day left on the page
    assert (_num(final["camBefore"]), _num(final["camAfter"])) == (1200, 900)
    assert (_num(final["manBefore"]), _num(final["manAfter"])) == (0, 1500)
    assert _num(final["camSoc"]) == pytest.approx(90)  # recharged from 15 % after 22:00
    assert 15 in [round(_num(r["camSoc"]) or -1, 6) for r in seen]
    costs = {o["order_id"]: o["cost_gbp"] for o in json.loads(summary.read_text())["orders"]}
    assert _num(final["camCost"]) == pytest.approx(costs[CAM_ORDER])
    assert _num(final["manCost"]) == pytest.approx(costs[MAN_ORDER])
    feed = "\n".join(final["events"])
    assert "grid stress stress-uk-east-1400 in UK-EAST 14:00-16:00: renewables 45%" in feed
    assert "CompFlex at cambridge-east: 300 kW of training moved to manchester, battery 150 kW" in feed
    assert "meters verify cambridge-east: 450 kW delivered" in feed
    assert "day settled" in feed

    _save("live-page-event.png", during, tmp_path)
    _save("live-page-final.png", after, tmp_path)
