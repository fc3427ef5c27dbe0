"""End-to-end: the web interface in a real browser (Debian's chromium driven by Playwright),
served by uvicorn on a free localhost port over a read-only archive.

Skipped when /usr/bin/chromium is missing, except under CI=true where that is a failure
(.ci/run installs it)."""
from __future__ import annotations

import os
import re
import socket
import threading
import time
from pathlib import Path

import pytest

from storage.archive import Archive
from tests.conftest import make_article

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
ADDED = "新增的段落：市府將加碼補助新創團隊。"

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def chromium():
    if not CHROMIUM.exists():
        if os.environ.get("CI") == "true":
            pytest.fail(f"{CHROMIUM} is missing (CI=true: the browser tests must run)")
        pytest.skip(f"{CHROMIUM} is missing (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield browser
        browser.close()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """The base URL of `newsarchive serve`'s application on a small archive."""
    import uvicorn

    from newsarchive.web.app import create_app

    url = f"sqlite:///{tmp_path_factory.mktemp('web') / 'archive.sqlite3'}"
    with Archive.open(url) as archive:
        archive.store_many([make_article(n) for n in range(25)])
        edited = make_article(3)
        edited["body"] += "\n\n" + ADDED
        archive.store_many([edited])
    archive = Archive.open(url, read_only=True)
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(archive), host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:  # waits for a positive event: the socket is listening
        assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=10)
    archive.close()


@pytest.fixture(params=[True, False], ids=["javascript", "no-javascript"])
def page(request, chromium):
    context = chromium.new_context(java_script_enabled=request.param, locale="zh-TW")
    yield context.new_page()
    context.close()


def test_search_open_a_hit_and_see_the_added_paragraph_in_its_versions(page, server):
    page.goto(server + "/")
    assert page.locator("html").get_attribute("lang") == "zh-Hant"
    page.get_by_label("關鍵字").fill("陳其邁")
    page.get_by_label("排序").select_option("newest")
    page.get_by_role("button", name="搜尋").click()
    assert "共 25 篇" in page.locator("#results-heading").inner_text()
    assert page.locator(".hit").count() == 20
    page.get_by_role("link", name="下一頁").click()
    assert page.locator(".hit").count() == 5  # newest first, ties by id: articles 4 to 0
    page.get_by_role("link", name=re.compile("最佳夥伴3$")).click()
    assert page.locator("h1").inner_text() == "亞太技術年會登場　陳其邁：高雄做新創最佳夥伴3"
    page.get_by_role("link", name="比較各版本的差異").click()
    inserted = page.locator("ins").all_inner_texts()
    assert any(ADDED in text for text in inserted)
    assert page.locator("html").get_attribute("lang") == "zh-Hant"


def test_every_form_field_has_a_label(chromium, server):
    context = chromium.new_context()
    page = context.new_page()
    page.goto(server + "/search?q=高雄")
    unlabelled = page.evaluate("""() => [...document.querySelectorAll('input, select, textarea')]
        .filter(field => field.type !== 'hidden' && field.labels.length === 0)
        .map(field => field.name)""")
    fields = page.locator("input, select").count()
    context.close()
    assert fields == 8 and unlabelled == []


def test_filters_work_without_javascript_and_bad_dates_are_explained(chromium, server):
    context = chromium.new_context(java_script_enabled=False)
    page = context.new_page()
    page.goto(server + "/")
    page.get_by_label("關鍵字").fill("高雄")
    page.get_by_label("來源").select_option("ettoday")
    page.get_by_role("button", name="搜尋").click()
    assert "共 0 篇" in page.locator("#results-heading").inner_text()
    response = page.goto(server + "/search?q=高雄&since=2023-02-30")
    assert response.status == 400 and "not a real date" in page.locator("main").inner_text()
    response = page.goto(server + "/runs")
    assert response.ok and page.locator("svg polyline").count() == 2
    context.close()
