"""The web interface and JSON API (`newsarchive serve`) on both databases, through a read-only
archive: the API's shapes, errors as JSON with the right status, hostile text inert, CSP."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import lxml.html
import pytest
from fastapi.testclient import TestClient

from newsarchive.web.app import CONTENT_SECURITY_POLICY, create_app, safe_url
from storage import snippets
from storage.archive import Archive
from storage.errors import ArchiveError
from tests.conftest import make_article

ADDED = "新增的段落：市府將加碼補助新創團隊。"
HOSTILE = make_article(
    40,
    title='<script>alert("title")</script>颱風<b onmouseover="alert(1)">高雄</b>',
    body='<img src=x onerror=alert("body")>颱風來襲\n\n<a href="javascript:alert(2)">點我</a>',
    body_html=('<p><img src="x" onerror="alert(3)">颱風來襲</p><p><a href="javascript:alert(4)">點我</a></p>'
               '<script>alert(5)</script><p style="x" onclick="alert(6)">文</p>'),
    images=[{"url": 'https://img.test/a.jpg" onerror="alert(7)', "caption": '<svg onload="alert(8)">圖說'}],
    tags=['<svg onload="alert(9)">', "颱風"],
    category='<i onclick="alert(10)">生活</i>',
)


def build_archive(url: str) -> None:
    with Archive.open(url) as archive:
        archive.store_many([make_article(n) for n in range(25)] + [HOSTILE])
        edited = make_article(1)
        edited["body"] += "\n\n" + ADDED
        archive.store_many([edited])
        for spider in ("cna", "ettoday"):
            run = archive.runs.start(spider)
            archive.runs.finish(run, status="succeeded", articles_new=13, requests=20,
                                stats={"newsarchive/article_pages": 20, "newsarchive/field_missing/editors": 15})


@pytest.fixture
def client(db_url):
    build_archive(db_url)
    archive = Archive.open(db_url, read_only=True)
    with TestClient(create_app(archive), raise_server_exceptions=False) as test_client:
        yield test_client
    archive.close()


def test_search_api_gives_the_exact_total_and_pages_of_hits_with_marked_snippets(client):
    first = client.get("/api/search", params={"q": "高雄"}).json()
    second = client.get("/api/search", params={"q": "高雄", "page": 2}).json()
    assert first["total"] == second["total"] == 26
    assert len(first["hits"]) == 20 and len(second["hits"]) == 6
    ids = [hit["id"] for hit in first["hits"] + second["hits"]]
    assert len(set(ids)) == 26
    hit = first["hits"][0]
    assert set(hit) == {"id", "source", "source_id", "title", "published_at", "category", "snippet",
                        "snippet_marks"}
    assert hit["id"] == f"{hit['source']}:{hit['source_id']}"
    marked = {hit["snippet"][start:end] for start, end in hit["snippet_marks"]}
    assert marked == {"高雄"}


def test_one_and_two_character_queries_and_filters(client):
    assert client.get("/api/search", params={"q": "邁"}).json()["total"] == 25
    assert client.get("/api/search", params={"q": "颱風"}).json()["total"] == 1
    assert client.get("/api/search", params={"q": "高雄", "source": "ettoday"}).json() == {
        "total": 0, "total_exact": True, "hits": []}
    assert client.get("/api/search", params={"q": "高雄", "until": "2023-09-14"}).json()["total"] == 0
    assert client.get("/api/search", params={"q": "高雄", "tag": "陳其邁", "since": "2023-09-15"}).json()["total"] == 25
    newest = client.get("/api/search", params={"q": "高雄", "order": "newest"}).json()
    assert newest["total"] == 26


def test_a_total_past_the_budget_is_a_flagged_lower_bound_until_asked_for(client, monkeypatch):
    """A new search does not wait for a long count: `total` is then a lower bound (at least the
    page's end and one more, so that a next page shows), `count=exact` waits for the number."""
    monkeypatch.setattr(snippets, "COUNT_BUDGET_S", 0)  # every count is past the budget
    monkeypatch.setattr(snippets, "LOWER_BOUND_MATCHES", 5)
    first = client.get("/api/search", params={"q": "高雄"}).json()
    assert (first["total"], first["total_exact"], len(first["hits"])) == (21, False, 20)
    second = client.get("/api/search", params={"q": "高雄", "page": 2}).json()
    assert (second["total"], second["total_exact"], len(second["hits"])) == (26, True, 6)  # fewer than 41
    assert len({hit["id"] for hit in first["hits"] + second["hits"]}) == 26  # the pages hold every match
    exact = client.get("/api/search", params={"q": "高雄", "order": "newest", "count": "exact"}).json()
    assert (exact["total"], exact["total_exact"]) == (26, True)
    # counted once, remembered: the next new request of this search needs no count
    assert client.get("/api/search", params={"q": "高雄"}).json()["total_exact"] is True


def test_the_search_page_says_at_least_and_links_to_the_exact_count(client, monkeypatch):
    monkeypatch.setattr(snippets, "COUNT_BUDGET_S", 0)
    monkeypatch.setattr(snippets, "LOWER_BOUND_MATCHES", 5)
    page = lxml.html.fromstring(client.get("/search", params={"q": "高雄", "source": "cna"}).text)
    assert page.get_element_by_id("results-heading").text_content() == "至少 21 篇符合「高雄」"
    assert page.find_class("of")[0].text_content() == "第 1 頁"  # of a number of pages not known yet
    [next_page] = page.xpath("//a[@rel='next']")
    assert next_page.get("href") == "/search?q=%E9%AB%98%E9%9B%84&source=cna&page=2"
    [exact_link] = page.find_class("exact-count")
    assert exact_link.get("href") == "/search?q=%E9%AB%98%E9%9B%84&source=cna&count=exact"
    exact = lxml.html.fromstring(client.get(exact_link.get("href")).text)
    assert exact.get_element_by_id("results-heading").text_content() == "共 26 篇符合「高雄」"
    assert not exact.find_class("exact-count")
    # its pages keep asking for the exact count
    assert exact.xpath("//a[@rel='next']")[0].get("href") == "/search?q=%E9%AB%98%E9%9B%84&source=cna&page=2&count=exact"
    assert "第 1 頁，共 2 頁" in exact.find_class("of")[0].text_content()


def test_article_and_versions_api(client):
    article = client.get("/api/articles/cna:202309150101").json()
    assert article["version"] == 2 and article["body"].endswith(ADDED)
    assert client.get("/api/articles/cna:202309150101").json() == article
    versions = client.get("/api/articles/cna:202309150101/versions").json()
    assert [v["version"] for v in versions] == [1, 2]
    assert all(v["origin"] == "crawl" and v["seen_from"] and v["seen_until"] for v in versions)
    assert ADDED not in versions[0]["body"] and ADDED in versions[1]["body"]


def test_versions_page_shows_the_added_paragraph_inside_ins(client):
    page = lxml.html.fromstring(client.get("/articles/cna:202309150101/versions").text)
    inserted = "".join(node.text_content() for node in page.iter("ins"))
    assert ADDED in inserted
    assert not list(page.iter("del"))


BAD_REQUESTS = [
    ("/api/articles/cna:999999999999", 404, "no archived article"),
    ("/api/articles/cna:999999999999/versions", 404, "no archived article"),
    ("/api/search?q=高雄&since=2023-02-30", 400, "not a real date"),
    ("/api/search?q=高雄&until=yesterday", 400, "YYYY-MM-DD"),
    ("/api/search?q=高雄&since=2023-09-16&until=2023-09-15", 400, "after until"),
    ("/api/search?q=高雄&page=0", 400, "page"),
    ("/api/search?q=高雄&page=two", 400, "page"),
    ("/api/search?q=高雄&page=100000", 400, "narrow the search"),
    ("/api/search?q=" + "高" * 201, 400, "200"),
    ("/api/search?q=" + " ".join("台灣高雄中央社記者今日電表示政府新北市長"[:17]), 400, "at most 16 are searched"),
    ("/api/search?q=高雄&source=bbc", 400, "unknown source"),
    ("/api/search?q=高雄&order=oldest", 400, "unknown order"),
    ("/api/search?q=高雄&count=approximate", 400, "unknown count 'approximate' (expected exact)"),
    ("/api/search", 400, "q"),
    ("/api/runs?limit=0", 400, "limit"),
    ("/api/nowhere", 404, "not found"),
]


def test_errors_are_json_with_the_right_status(client):
    for path, status, message in BAD_REQUESTS:
        response = client.get(path)
        assert response.status_code == status, path
        assert response.headers["content-type"] == "application/json", path
        assert message in response.json()["error"], path
        assert "Traceback" not in response.text


def test_bad_parameters_on_pages_are_a_400_page(client):
    response = client.get("/search", params={"q": "高雄", "since": "2023-13-01"})
    assert response.status_code == 400 and "text/html" in response.headers["content-type"]
    assert "not a real date" in response.text
    response = client.get("/search", params={"q": " ".join("台灣高雄中央社記者今日電表示政府新北市長"[:17])})
    assert response.status_code == 400 and "at most 16 are searched" in response.text
    response = client.get("/search", params={"q": "高雄", "count": "all"})
    assert response.status_code == 400 and "unknown count" in response.text
    assert client.get("/articles/cna:1").status_code == 404


def test_hostile_article_text_is_inert_on_every_page(client):
    pages = ["/search?q=颱風", "/search?q=高雄", "/articles/cna:202309150140",
             "/articles/cna:202309150140/versions", "/runs", "/"]
    for path in pages:
        response = client.get(path)
        assert response.status_code == 200, path
        tree = lxml.html.fromstring(response.text)
        assert not list(tree.iter("script")), path
        for element in tree.iter():
            for name, value in element.attrib.items():
                assert not name.startswith("on"), (path, element.tag, name)
                assert name != "style", (path, element.tag)
                if name in ("href", "src"):
                    assert not value.strip().lower().startswith("javascript:"), (path, value)
    article = client.get("/articles/cna:202309150140").text
    assert "&lt;script&gt;" in article  # shown as text, not dropped silently


def test_every_html_response_sends_a_csp_without_inline_script(client):
    for path in ["/", "/search?q=高雄", "/articles/cna:202309150101", "/articles/cna:202309150101/versions",
                 "/runs", "/search?q=x&page=0", "/nowhere"]:
        response = client.get(path)
        assert "text/html" in response.headers["content-type"], path
        policy = response.headers["content-security-policy"]
        assert policy == CONTENT_SECURITY_POLICY
    assert "default-src 'none'" in CONTENT_SECURITY_POLICY and "script-src" not in CONTENT_SECURITY_POLICY
    assert "unsafe-inline" not in CONTENT_SECURITY_POLICY


def test_pages_answer_head_requests_as_link_checkers_send_them(client):
    for path in ["/", "/search?q=高雄", "/articles/cna:202309150101", "/runs"]:
        response = client.head(path)
        assert response.status_code == 200, path
        assert response.content == b"" and response.headers["content-security-policy"] == CONTENT_SECURITY_POLICY
    assert client.head("/articles/cna:999999999999").status_code == 404


def test_runs_stats_health_and_openapi(client):
    runs = client.get("/api/runs").json()
    assert [run["spider"] for run in runs] == ["ettoday", "cna"] and runs[0]["status"] == "succeeded"
    stats = client.get("/api/stats").json()
    assert stats["articles"] == 26 and stats["earlier_versions"] == 1
    health = client.get("/api/health")
    # both crawls just succeeded; editors on 25 % of the pages is a warning, not critical
    assert health.status_code == 200
    assert [(item["source"], item["status"]) for item in health.json()] == [("cna", "warning"), ("ettoday", "warning")]
    paths = client.get("/openapi.json").json()["paths"]
    assert {"/api/search", "/api/articles/{article_ref}", "/api/articles/{article_ref}/versions",
            "/api/runs", "/api/stats", "/api/health"} <= set(paths)
    assert "/search" not in paths
    runs_page = lxml.html.fromstring(client.get("/runs").text)
    assert len(runs_page.findall(".//polyline")) == 2
    assert "editors found on 25%" in runs_page.text_content()


def test_health_is_503_when_a_source_is_critical(db_url):
    with Archive.open(db_url) as archive:
        archive.store_many([make_article(0)])
    archive = Archive.open(db_url, read_only=True)
    with TestClient(create_app(archive)) as test_client:
        response = test_client.get("/api/health")
    archive.close()
    assert response.status_code == 503
    assert all(item["status"] == "critical" and "no successful crawl yet" in item["problems"]
               for item in response.json())


def test_the_served_archive_refuses_writes(db_url):
    build_archive(db_url)
    with Archive.open(db_url, read_only=True) as archive:
        with pytest.raises(ArchiveError):
            archive.store_many([make_article(60)])
        with pytest.raises(ArchiveError, match="read-only|readonly"):
            archive.runs.start("cna")
        assert archive.get("cna:202309150160") is None


def test_a_missing_sqlite_archive_is_a_one_line_error(tmp_path):
    path = tmp_path / "absent.sqlite3"
    with pytest.raises(ArchiveError, match="no archive database at"):
        Archive.open(f"sqlite:///{path}", read_only=True)
    assert not path.exists()


def test_only_http_links_are_links():
    assert safe_url("https://www.cna.com.tw/news/a.aspx") == "https://www.cna.com.tw/news/a.aspx"
    for hostile in ("javascript:alert(1)", " JavaScript:alert(1)", "data:text/html,x", "vbscript:x", None, 3):
        assert safe_url(hostile) is None


def test_pages_render_times_in_taipei(client):
    page = lxml.html.fromstring(client.get("/search", params={"q": "高雄", "order": "newest"}).text)
    assert page.get("lang") == "zh-Hant"
    times = [node.text for node in page.iter("time")]
    published = datetime(2023, 9, 15, 13, 54, tzinfo=timezone(timedelta(hours=8)))
    assert times and set(times) == {f"{published:%Y-%m-%d %H:%M}"}
