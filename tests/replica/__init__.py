"""Local replica of www.cna.com.tw, www.ettoday.net and their feeds, for tests and benchmarks.

    from tests.replica import Replica
    with Replica.start(seed=1, cna_articles=40, ettoday_articles=40, days=3) as replica:
        settings["NEWSARCHIVE_HOST_MAP"] = replica.host_map

The API is documented in tests/replica/README.md.
"""
from tests.replica.server import LoggedRequest, Replica

__all__ = ["LoggedRequest", "Replica"]
