"""Remake docs/serve.png: start `run.py task=serve` for a generator, open the page in headless chromium
(Debian's chromium + chromium-driver, selenium from the dev extra), start from a validation layout, generate,
and save the screenshot.

    .venv/bin/python docs/serve_screenshot.py CHECKPOINT [--layout 3] [--out docs/serve.png] [overrides ...]
"""

from __future__ import annotations

import argparse
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from selenium import webdriver
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select, WebDriverWait

REPO = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(url: str, proc: subprocess.Popen) -> None:
    for _ in range(600):
        try:
            urllib.request.urlopen(url + "api/info", timeout=1)
            return
        except OSError:
            if proc.poll() is not None:
                sys.exit(f"task=serve exited with status {proc.returncode}")
            time.sleep(0.5)
    sys.exit(f"no answer from {url}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("checkpoint")
    parser.add_argument("--layout", type=int, default=3, help="index in the validation-layout menu (1 = the first)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default=str(REPO / "docs" / "serve.png"))
    args, overrides = parser.parse_known_args()
    port = free_port()
    url = f"http://127.0.0.1:{port}/"
    proc = subprocess.Popen([sys.executable, "run.py", "task=serve", f"checkpoint={args.checkpoint}",
                             f"serve.port={port}", *overrides], cwd=REPO)
    try:
        wait_for(url, proc)
        options = webdriver.ChromeOptions()
        options.binary_location = shutil.which("chromium") or shutil.which("chromium-browser")
        for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--window-size=1400,900"):
            options.add_argument(flag)
        driver = webdriver.Chrome(options=options, service=webdriver.ChromeService(shutil.which("chromedriver")))
        try:
            driver.get(url)
            wait = WebDriverWait(driver, 60)
            wait.until(lambda d: d.find_element(By.TAG_NAME, "body").get_attribute("data-ready") == "1")
            Select(driver.find_element(By.ID, "valsel")).select_by_index(args.layout)
            wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "#objects input.cls"))
            seed = driver.find_element(By.ID, "seed")
            seed.clear()
            seed.send_keys(str(args.seed))
            driver.find_element(By.ID, "generate").click()
            wait.until(lambda d: all((d.find_element(By.ID, k).get_attribute("src") or "").startswith("data:image/png")
                                     for k in ("image", "overlay", "masks", "raw_masks")))
            time.sleep(0.5)  # let the images paint
            driver.save_screenshot(args.out)
        finally:
            driver.quit()
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
