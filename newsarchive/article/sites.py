"""Each site's URL rules: which URLs are its articles, their ids and canonical URLs.

One place for what the spiders (requests), the pipelines (dedupe), the extractors (the page's
own URL), storage (`show URL`) and validation (an article's url must name its id) all need.

    article_id(source, url)     the site's id for any URL form of one of its articles, else None
    canonical_url(source, url)  https, the site's main host form, no query or fragment; None for
                                a URL that is not one of the site's articles
    identify(url)               (source, id) of an article URL of either site, else None
"""
from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from urllib.parse import SplitResult, parse_qs, urlsplit


@functools.lru_cache(maxsize=1024)  # validation splits an article's URL several times over
def split_url(url: str | None) -> tuple[SplitResult, str] | None:
    """(parts, lower-case host) of a web URL; a missing scheme means https. None if unusable."""
    url = (url or "").strip()
    if url.startswith("//"):
        url = "https:" + url
    elif "://" not in url:
        url = "https://" + url
    try:
        parts = urlsplit(url)
        host = (parts.hostname or "").lower()
    except ValueError:
        return None
    return parts, host


@dataclass(frozen=True)
class Site:
    name: str  # the `source` of its articles
    outlet: str  # the outlet's name as it signs (a Jekyll post's author when no one is credited)
    home: str  # its main origin

    def owns_host(self, host: str) -> bool:
        raise NotImplementedError

    def article_id(self, url: str) -> str | None:
        raise NotImplementedError

    def canonical_url(self, url: str) -> str | None:
        raise NotImplementedError


# --- CNA --------------------------------------------------------------------------------------

_CNA_HOSTS = frozenset({"www.cna.com.tw", "cna.com.tw", "m.cna.com.tw"})
_CNA_NEWS_PATH = re.compile(r"/news/(?P<cat>[a-z0-9]+)/(?P<id>\d{12})(?:-\d+)?\.aspx", re.I)
# Pre-2021 topic pages served articles under the topic path; the id is the same.
_CNA_TOPIC_PATH = re.compile(r"/topic/[a-z]+/\d+/(?P<id>\d{12})(?:-\d+)?\.aspx", re.I)


def _plausible_cna_id(source_id: str) -> bool:
    """YYYYMMDD + serial: reject digit runs that cannot be a CNA id (month 13, day 00...)."""
    year, month, day = int(source_id[:4]), int(source_id[4:6]), int(source_id[6:8])
    return 1990 <= year <= 2200 and 1 <= month <= 12 and 1 <= day <= 31


class CNA(Site):
    def owns_host(self, host: str) -> bool:
        return host in _CNA_HOSTS

    def _match(self, url: str) -> tuple[re.Match, bool] | None:
        """(path match, is the /news/ form) of a CNA article URL."""
        split = split_url(url)
        if split is None or not self.owns_host(split[1]) or split[0].scheme not in ("http", "https"):
            return None
        path = split[0].path
        for pattern, is_news in ((_CNA_NEWS_PATH, True), (_CNA_TOPIC_PATH, False)):
            match = pattern.fullmatch(path)
            if match and _plausible_cna_id(match["id"]):
                return match, is_news
        return None

    def article_id(self, url: str) -> str | None:
        """The 12-digit id of any CNA article URL form (category segment, `-1`, query ignored)."""
        found = self._match(url)
        return found[0]["id"] if found else None

    def canonical_url(self, url: str) -> str | None:
        """https://www.cna.com.tw/news/<cat>/<id>.aspx (the category given is kept: the page's
        own canonical link wins during extraction); an old topic URL keeps its path."""
        found = self._match(url)
        if found is None:
            return None
        match, is_news = found
        if is_news:
            return f"{self.home}/news/{match['cat'].lower()}/{match['id']}.aspx"
        return f"{self.home}{match.string}"


# --- ETtoday ----------------------------------------------------------------------------------

_ETTODAY_HOST = re.compile(r"^(?:([a-z0-9-]+)\.)?ettoday\.net$")
_ETTODAY_DATED_PATH = re.compile(r"^/news/(\d{8})/(\d+)\.htm$")
_ETTODAY_SUBDOMAIN_PATH = re.compile(r"^/news/(\d+)(?:\.htm)?/?$")
_ETTODAY_ARTICLE_PATH = re.compile(r"^/article/(\d+)\.htm$")
_ETTODAY_AMP_PATH = re.compile(r"^/amp/amp_news\.php\d*$")


class ETtoday(Site):
    """One id space serves every host (www, star, sports, pets, … and m.), so the numeric id
    is the identity."""

    def owns_host(self, host: str) -> bool:
        return _ETTODAY_HOST.match(host) is not None

    def _parse(self, url: str) -> tuple[str, str, str, str | None] | None:
        """(subdomain, form, id, date) of an article URL of any ETtoday form, else None."""
        split = split_url(url)
        if split is None:
            return None
        parts, host = split
        host_match = _ETTODAY_HOST.match(host)
        if parts.scheme not in ("http", "https") or not host_match:
            return None
        sub, path = host_match.group(1) or "www", parts.path
        if match := _ETTODAY_DATED_PATH.match(path):
            form, number, date = "dated", match.group(2), match.group(1)
        elif sub not in ("www", "m") and (match := _ETTODAY_SUBDOMAIN_PATH.match(path)):
            form, number, date = "news", match.group(1), None
        elif match := _ETTODAY_ARTICLE_PATH.match(path):
            form, number, date = "article", match.group(1), None
        elif _ETTODAY_AMP_PATH.match(path):
            form, number, date = "amp", parse_qs(parts.query).get("news_id", [""])[0], None
        else:
            return None
        if not number.isdigit() or int(number) == 0:
            return None
        return sub, form, str(int(number)), date

    def article_id(self, url: str) -> str | None:
        parsed = self._parse(url)
        return parsed[2] if parsed else None

    def canonical_url(self, url: str) -> str | None:
        """https, no query or fragment; the mobile host becomes www; a subdomain form keeps its
        host. An AMP URL lacks the date of the www form: it becomes star.ettoday.net/news/<id>,
        which the site redirects to the story whatever its section (the page's canonical link
        wins during extraction)."""
        parsed = self._parse(url)
        if not parsed:
            return None
        sub, form, source_id, date = parsed
        host = "www" if sub == "m" else sub
        if form == "dated":
            return f"https://{host}.ettoday.net/news/{date}/{source_id}.htm"
        if form == "article":
            return f"https://{host}.ettoday.net/article/{source_id}.htm"
        if form == "news":
            return f"https://{host}.ettoday.net/news/{source_id}"
        return f"https://star.ettoday.net/news/{source_id}"


SITES: dict[str, Site] = {
    "cna": CNA("cna", "中央社CNA", "https://www.cna.com.tw"),
    "ettoday": ETtoday("ettoday", "ETtoday新聞雲", "https://www.ettoday.net"),
}
SOURCES = tuple(SITES)


class UnknownSource(ValueError):
    pass


def site(source: str) -> Site:
    try:
        return SITES[source]
    except (KeyError, TypeError):
        raise UnknownSource(f"unknown source {source!r} (expected one of: {', '.join(SOURCES)})") from None


def article_id(source: str, url: str) -> str | None:
    return site(source).article_id(url)


def canonical_url(source: str, url: str) -> str | None:
    return site(source).canonical_url(url)


def identify(url: str) -> tuple[str, str] | None:
    """(source, source_id) of an article URL of either site, in any of its URL forms."""
    for source, rules in SITES.items():
        source_id = rules.article_id(url)
        if source_id:
            return source, source_id
    return None


def source_of_host(url: str) -> str | None:
    """The site whose host serves `url` (any page, not only articles), else None."""
    split = split_url(url)
    if split is None:
        return None
    return next((name for name, rules in SITES.items() if rules.owns_host(split[1])), None)
