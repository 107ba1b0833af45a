"""The page in a real headless chromium (selenium): draw two boxes, pick classes, generate, move a box and
see the image and both mask panels change; a screenshot lands in the test's tmp dir. Started through
`run.py task=serve`, so the task itself is tested too. Skips only when no browser is installed, never in CI."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request

import pytest

from tests.conftest import REPO

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
DRIVER = shutil.which("chromedriver")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run", "--window-size=1400,1000"]


def _need_browser():
    pytest.importorskip("fastapi", reason="the [app] extra (fastapi, uvicorn) is not installed")
    if not (CHROMIUM and DRIVER):
        if os.environ.get("CI") == "true":
            pytest.fail("CI must have chromium and chromium-driver (.ci/run installs them with apt-get)")
        pytest.skip("no chromium/chromedriver found: apt-get install chromium chromium-driver")
    return pytest.importorskip("selenium.webdriver", reason="selenium (the dev extra) is not installed")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def server(tiny_checkpoint, tmp_path):
    port = _free_port()
    env = {**os.environ, "OMP_NUM_THREADS": "1", "LAMA_OUTPUT_DIR": str(tmp_path / "out")}
    proc = subprocess.Popen([sys.executable, "run.py", "task=serve", f"checkpoint={tiny_checkpoint}",
                             f"serve.port={port}", "serve.max_objects=3", f"paths.data_dir={tmp_path / 'data'}", "serve.device=cpu"],
                            cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    url = f"http://127.0.0.1:{port}/"
    try:
        for _ in range(120):
            try:
                urllib.request.urlopen(url + "api/info", timeout=1)
                break
            except OSError:
                if proc.poll() is not None:
                    pytest.fail(f"task=serve exited: {proc.stdout.read()}")
                time.sleep(0.5)
        yield url
    finally:
        proc.terminate()
        out = proc.communicate(timeout=20)[0]
    assert f"at {url}" in out  # prints the address


def _drag(webdriver, driver, canvas, start, end):
    from selenium.webdriver.common.action_chains import ActionChains

    w = canvas.size["width"]
    chain = ActionChains(driver).move_to_element_with_offset(canvas, int(start[0] * w - w / 2), int(start[1] * w - w / 2))
    chain.click_and_hold().move_by_offset(int((end[0] - start[0]) * w), int((end[1] - start[1]) * w)).release().perform()


def test_draw_pick_generate_move(server, tmp_path):
    webdriver = _need_browser()
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support.ui import WebDriverWait

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in [*FLAGS, f"--user-data-dir={tmp_path / 'profile'}"]:
        options.add_argument(flag)
    driver = webdriver.Chrome(options=options, service=webdriver.ChromeService(executable_path=DRIVER))
    try:
        driver.get(server)
        wait = WebDriverWait(driver, 30)
        wait.until(lambda d: d.find_element(By.TAG_NAME, "body").get_attribute("data-ready") == "1")
        canvas = driver.find_element(By.ID, "canvas")
        _drag(webdriver, driver, canvas, (0.05, 0.05), (0.95, 0.4))
        _drag(webdriver, driver, canvas, (0.3, 0.5), (0.7, 0.9))
        assert len(driver.find_elements(By.CSS_SELECTOR, "#objects input.cls")) == 2
        for k, name in enumerate(["sky", "big ring"]):  # the list is redrawn after each pick: find it again
            inp = driver.find_elements(By.CSS_SELECTOR, "#objects input.cls")[k]
            inp.clear()
            inp.send_keys(name, Keys.TAB)
        classes = [i.get_attribute("value") for i in driver.find_elements(By.CSS_SELECTOR, "#objects input.cls")]
        assert classes == ["sky", "big ring"]

        def panels():
            return {k: driver.find_element(By.ID, k).get_attribute("src") or ""
                    for k in ("image", "overlay", "masks", "raw_masks")}

        driver.find_element(By.ID, "generate").click()
        wait.until(lambda d: all(v.startswith("data:image/png") for v in panels().values()))
        first = panels()
        assert driver.find_element(By.ID, "msg").text == ""
        driver.save_screenshot(str(tmp_path / "serve.png"))
        _drag(webdriver, driver, canvas, (0.5, 0.7), (0.3, 0.6))  # move the second box
        driver.find_element(By.ID, "generate").click()
        try:
            # a random-init G's image can stay the same to the last uint8 level; the masks and overlay cannot
            wait.until(lambda d: all(panels()[k] != first[k] for k in ("overlay", "masks", "raw_masks")))
        finally:
            driver.save_screenshot(str(tmp_path / "serve_after_move.png"))
        # the slot limit (3 here) is a clear message, not a fourth box
        _drag(webdriver, driver, canvas, (0.75, 0.45), (0.9, 0.55))
        _drag(webdriver, driver, canvas, (0.05, 0.45), (0.15, 0.48))
        assert len(driver.find_elements(By.CSS_SELECTOR, "#objects input.cls")) == 3
        assert "3 object slots" in driver.find_element(By.ID, "msg").text
        driver.save_screenshot(str(tmp_path / "serve_after_move.png"))
        assert (tmp_path / "serve.png").stat().st_size > 0
    finally:
        driver.quit()
