"""Make the coding-page screenshots in docs/coding/ (the README shows them).

Codes the built-in tutor-errors example through the page's HTTP API (two coders, a share double-coded,
some labels deliberately wrong), waits for the model to retrain, then photographs the pages in headless
Chromium. Run from the repository root: .venv/bin/python docs/coding/screenshots.py
"""

from __future__ import annotations

import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import pandas as pd
from playwright.sync_api import sync_playwright

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "src"))
from synthgrade.serve.server import free_port  # noqa: E402

OUT = ROOT / "docs" / "coding"
EXAMPLE = ROOT / "src" / "synthgrade" / "examples" / "tutor-errors" / "responses.csv"
LABELS = ["effective", "ineffective"]


def main() -> None:
    rng = random.Random(1)
    frame = pd.read_csv(EXAMPLE)
    truth = dict(zip(frame["id"], frame["label"], strict=True))
    with tempfile.TemporaryDirectory() as tmp:
        pool = Path(tmp) / "pool.csv"
        frame.drop(columns=["label"]).to_csv(pool, index=False)
        port = free_port()
        command = [sys.executable, "-m", "synthgrade.cli", "code", str(pool), "--out", str(Path(tmp) / "project"),
                   "--labels", ",".join(LABELS), "--port", str(port), "--coder", "ann", "--double", "0.3"]
        server = subprocess.Popen(command, start_new_session=True)
        url = f"http://127.0.0.1:{port}"
        try:
            for _ in range(300):
                try:
                    httpx.get(url + "/health", timeout=1)
                    break
                except httpx.HTTPError:
                    time.sleep(0.2)
            client = httpx.Client(base_url=url, headers={"X-Synthgrade": "1"}, timeout=60)

            def code(coder: str, n: int, noise: float) -> None:
                current = client.get("/api/next", params={"coder": coder}).json()["response"]
                for _ in range(n):
                    if current is None:
                        return
                    label = truth[current["id"]]
                    if rng.random() < noise:
                        label = LABELS[1 - LABELS.index(label)]
                    note = "tone is kind but gives the answer away" if rng.random() < 0.1 else ""
                    payload = {"id": current["id"], "coder": coder, "label": label, "note": note, "base": current["label"]}
                    current = client.post("/api/label", json=payload).json()["response"]

            for n in (12, 6, 6, 6):
                code("ann", n, 0.12)
                deadline = time.time() + 300
                while time.time() < deadline:
                    model = client.get("/api/panel").json()["model"]
                    if model["state"].startswith("trained") and model["trained_on"] and model["trained_on"] >= 10:
                        break
                    time.sleep(2)
            code("bob", 8, 0.25)
            client.post("/api/audit")
            time.sleep(3)
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(executable_path="/usr/bin/chromium", args=["--no-sandbox", "--disable-gpu"])
                page = browser.new_page(viewport={"width": 1360, "height": 1000})
                page.goto(url + "/?coder=ann")
                page.wait_for_function("() => document.getElementById('response-id').dataset.id", timeout=60_000)
                page.wait_for_function("() => document.getElementById('f1').textContent", timeout=60_000)
                time.sleep(1)
                page.screenshot(path=str(OUT / "coding-page.png"), full_page=True)
                page.goto(url + "/disagreements?coder=ann")
                page.screenshot(path=str(OUT / "disagreements.png"), full_page=False)
                page.goto(url + "/suspects?coder=ann")
                page.screenshot(path=str(OUT / "suspects.png"), full_page=False)
                browser.close()
        finally:
            server.kill()
            server.wait()


if __name__ == "__main__":
    main()
