"""What the `newsarchive` commands print for people: tables (CJK-aware), articles, version
diffs, statistics, run history and progress. Pure functions of the data the commands fetched."""
from __future__ import annotations

import json
import re
import socket
import sys
import textwrap
import unicodedata
from collections.abc import Iterable, Iterator, Sequence
from datetime import date, datetime, timezone, tzinfo
from typing import Any

import click

from newsarchive.article import ARTICLE_FIELDS, SOURCES, TAIPEI

PROGRESS_EVERY = 100  # rows between updates of a progress bar




def display_width(text: str) -> int:
    """Terminal columns of `text`: wide/fullwidth (CJK) characters take two, combining marks none."""
    return sum(0 if unicodedata.combining(ch) else 2 if unicodedata.east_asian_width(ch) in "WF" else 1
               for ch in text)


def truncate(text: str, width: int) -> str:
    """`text` on one line, cut to `width` columns with an ellipsis (U+3000 is kept as written)."""
    text = re.sub(r"[ \t\r\n\f\v]+", " ", text).strip(" ")
    if display_width(text) <= width:
        return text
    out, used = [], 0
    for ch in text:
        w = display_width(ch)
        if used + w > width - 1:
            break
        out.append(ch)
        used += w
    return "".join(out) + "…"


def render_table(headers: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    """An aligned plain-text table (numbers right-aligned), CJK-aware, header underlined."""
    rows = [list(row) for row in rows]
    cells = [[_cell(v) for v in row] for row in rows]
    numeric = [any(isinstance(r[i], int) for r in rows)
               and all(r[i] is None or isinstance(r[i], int) for r in rows)
               for i in range(len(headers))]
    widths = [max([display_width(h)] + [display_width(r[i]) for r in cells])
              for i, h in enumerate(headers)]

    def line(values: Sequence[str]) -> str:
        parts = []
        for i, value in enumerate(values):
            pad = " " * (widths[i] - display_width(value))
            parts.append(pad + value if numeric[i] else value + pad)
        return "  ".join(parts).rstrip()

    return "\n".join([line(headers), line(["-" * w for w in widths])] + [line(r) for r in cells])


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, (list, tuple)):
        return "、".join(str(v) for v in value)
    if isinstance(value, datetime):
        return value.isoformat(sep=" ", timespec="seconds")
    return str(value)


def short_time(value: Any, zone: tzinfo | None = None) -> str:
    """`2023-08-23 15:06` of an ISO time string or datetime, in `zone` or as written."""
    if value is None:
        return ""
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            return value
    if zone is not None:
        value = value.astimezone(zone)
    return f"{value:%Y-%m-%d %H:%M}"


def json_line(obj: dict) -> str:
    return json.dumps(obj, ensure_ascii=False, default=_json_default)


def _json_default(value: Any) -> Any:
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


class Progress:
    """A progress bar on stderr (count, total when known, rate, time left), only when stderr is a
    terminal: never in pipes, logs or tests. Called with the count done so far. Rich is loaded
    only when a bar is shown (commands start faster without it)."""

    def __init__(self, verb: str, total: int | None = None):
        self.verb = verb
        self.total = total
        self.enabled = sys.stderr.isatty()
        self._bar = None
        self._task = None

    def __enter__(self) -> "Progress":
        if self.enabled:
            from rich.console import Console
            from rich.progress import BarColumn, MofNCompleteColumn, ProgressColumn, TextColumn, TimeRemainingColumn
            from rich.progress import Progress as RichProgress
            from rich.text import Text

            class RateColumn(ProgressColumn):
                """Items per second (rich's own speed columns count bytes)."""

                def render(self, task) -> Text:
                    return Text(f"{task.speed:,.0f}/s" if task.speed else "", style="progress.data.speed")

            self._bar = RichProgress(
                TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), RateColumn(),
                TimeRemainingColumn(), console=Console(stderr=True), transient=True)
            self._bar.start()
            self._task = self._bar.add_task(self.verb, total=self.total)
        return self

    def __call__(self, count: int) -> None:
        if self._bar is not None:
            self._bar.update(self._task, completed=count)

    def counting(self, rows: Iterable) -> Iterator:
        for count, row in enumerate(rows, start=1):
            if count % PROGRESS_EVERY == 0:
                self(count)
            yield row

    def close(self) -> None:
        """Remove the bar (one bar at a time can be shown); what follows starts on a clean line."""
        if self._bar is not None:
            self._bar.stop()
            self._bar = None

    def __exit__(self, *exc) -> None:
        self.close()


def article_ref(article: dict) -> str:
    """The short id `show` accepts: <source>:<source_id>."""
    return f"{article['source']}:{article['source_id']}"


def render_article(a: dict) -> str:
    facts = [
        ("id", article_ref(a)),
        ("url", a["url"]),
        ("published", a["published_at"]),
        ("updated", a.get("updated_at")),
        ("category", a.get("category")),
        ("authors", a.get("authors")),
        ("location", a.get("location")),
        ("editors", a.get("editors")),
        ("tags", a.get("tags")),
        ("images", len(a.get("images") or []) or None),
        ("version", a.get("version")),
        ("first seen", seen_time(a.get("first_seen_at"))),
        ("last seen", seen_time(a.get("last_seen_at"))),
    ]
    width = max(display_width(k) for k, _ in facts)
    lines = [a["title"], ""]
    lines += [f"{k.ljust(width)}  {_cell(v)}" for k, v in facts if v not in (None, [], "")]
    return "\n".join(lines + ["", a.get("body") or ""])


def paragraphs(body: str | None) -> list[str]:
    return [p.strip() for p in re.split(r"\n\s*\n", body or "") if p.strip()]


def changed_fields(previous: dict | None, current: dict) -> list[str]:
    """Interface fields whose value differs from the previous version (all of them for the first)."""
    if previous is None:
        return []
    return [name for name in ARTICLE_FIELDS if previous.get(name) != current.get(name)]


def body_diff(previous: str | None, current: str | None) -> list[str]:
    """Paragraph-level diff: `- old paragraph` / `+ new paragraph`, in body order."""
    import difflib  # only `show --versions` diffs: the reading commands start without it

    old, new = paragraphs(previous), paragraphs(current)
    lines = []
    matcher = difflib.SequenceMatcher(a=old, b=new, autojunk=False)
    for op, i1, i2, j1, j2 in matcher.get_opcodes():
        if op in ("delete", "replace"):
            lines += [f"- {truncate(p, 70)}" for p in old[i1:i2]]
        if op in ("insert", "replace"):
            lines += [f"+ {truncate(p, 70)}" for p in new[j1:j2]]
    return lines


# how a version came, when not by a crawl: a reparse is a correction, never an edit by the site
ORIGIN_NOTES = {"import": "  (imported)", "reparse": "  (correction: extracted again from its capture)"}


def render_versions(history: list[dict], changes: list[list[str]]) -> str:
    blocks = []
    for number, (version, changed) in enumerate(zip(history, changes)):
        seen = f"seen {seen_time(version.get('seen_from'))} to {seen_time(version.get('seen_until'))}"
        current = "  (current)" if number == len(history) - 1 else ""
        lines = [f"version {version['version']}  {seen}{current}{ORIGIN_NOTES.get(version.get('origin'), '')}"]
        if number == 0:
            lines.append("  first capture")
        else:
            lines.append(f"  changed: {', '.join(changed) if changed else 'nothing in the article'}")
            previous = history[number - 1]
            for name in changed:
                if name not in ("body", "body_html", "images"):
                    lines.append(f"    {name}: - {truncate(_cell(previous.get(name)) or '(none)', 70)}")
                    lines.append(f"    {' ' * len(name)}  + {truncate(_cell(version.get(name)) or '(none)', 70)}")
            if "body" in changed:
                lines.append("    body (paragraphs):")
                lines += [f"      {line}" for line in body_diff(previous.get("body"), version.get("body"))]
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks)


def seen_time(value: Any) -> str:
    """An archive time (UTC) to the second: `2026-11-20 01:02:03 UTC`."""
    if not value:
        return "?"
    moment = datetime.fromisoformat(value) if isinstance(value, str) else value
    return f"{moment.astimezone(timezone.utc):%Y-%m-%d %H:%M:%S} UTC"


STATS_DAYS = 14


def render_search(found: Any) -> str:
    """`newsarchive search`: the total, then each hit (storage.snippets.SearchPage) and its snippet,
    the matched words in bold on a terminal."""
    if not found.total:
        return "no matching articles"
    shown = len(found.hits)
    header, rule, *rows = render_table(
        ["ID", "PUBLISHED", "CATEGORY", "TITLE"],
        [[article_ref(h), short_time(h.get("published_at")), h.get("category"), h["title"]]
         for h in found.hits]).split("\n")
    lines = [f"{found.total} matching article{'s' if found.total != 1 else ''}"
             + (f", the first {shown} shown" if shown < found.total else ""), header, rule]
    for row, hit in zip(rows, found.hits):
        lines.append(row)
        text = "".join(click.style(piece, bold=True) if marked else piece
                       for piece, marked in hit["snippet"].segments())
        if text:
            lines.append(f"    {text}")
    return "\n".join(lines)


def render_job_statuses(statuses: Sequence[Any]) -> str:
    """`newsarchive scheduler status` (scheduler.status.JobStatus): times in UTC."""
    if not statuses:
        return "no jobs"
    rows = []
    for job in statuses:
        last = job.last_run or {}
        rows.append([job.id, job.spider or "(not in the schedule)", job.when,
                     short_time(job.next_run_at, timezone.utc) or "not scheduled",
                     short_time(last.get("started_at"), timezone.utc) or "never",
                     last.get("status"), last.get("id")])
    return render_table(["JOB", "SPIDER", "WHEN", "NEXT RUN (UTC)", "LAST RUN (UTC)", "STATUS", "RUN"], rows)


def render_stats(figures: dict) -> str:
    per_source = figures.get("per_source", {})
    sections = [
        f"{figures.get('articles', 0)} articles, {figures.get('earlier_versions', 0)} earlier versions"
        + (f", database {figures['database_bytes'] / 1e6:.1f} MB" if figures.get("database_bytes") else "")]
    if per_source:
        sections.append(render_table(["SOURCE", "ARTICLES", "FIRST PUBLISHED", "LAST PUBLISHED", "LAST SEEN"], [
            [source, s["articles"], short_time(s.get("first_published"), TAIPEI),
             short_time(s.get("last_published"), TAIPEI), seen_time(s.get("last_seen_at"))]
            for source, s in sorted(per_source.items())]))
    # the most recent publication days (Taipei), one column per site
    counts: dict[str, dict[str, int]] = {}
    for row in figures.get("per_day", []):
        if row["date"] in counts or len(counts) < STATS_DAYS:
            counts.setdefault(row["date"], {})[row["source"]] = row["articles"]
    if counts:
        sections.append(render_table(["DAY", *(s.upper() for s in SOURCES)], [
            [day, *(by_source.get(s, 0) for s in SOURCES)]
            for day, by_source in sorted(counts.items(), reverse=True)]))
    last_runs = figures.get("last_successful_runs", {})
    sections.append(render_table(["SPIDER", "LAST SUCCESSFUL CRAWL (UTC)", "NEW", "UPDATED", "UNCHANGED"], [
        [spider, short_time(run.get("finished_at"), timezone.utc), run.get("articles_new"), run.get("articles_updated"),
         run.get("articles_unchanged")]
        for spider, run in sorted(last_runs.items())]) if last_runs else "no successful crawl yet")
    return "\n\n".join(sections)


RUN_ERROR_WIDTH = 40


def render_runs(history: list[dict], *, verbose: bool = False) -> str:
    """The runs table; below it each error the table cut, whole and wrapped, and with `verbose`
    every run's error and the file holding its crawl log."""
    if not history:
        return "no crawl runs yet"
    table = _runs_table(history)
    details = []
    for run in history:
        error = run.get("error") or ""
        log_file = (run.get("stats") or {}).get("log_file") if verbose else None
        if not (log_file or (error and (verbose or display_width(error) > RUN_ERROR_WIDTH))):
            continue
        lines = textwrap.wrap(error, width=96, initial_indent=f"run {run.get('id')} ({run['spider']}): ",
                              subsequent_indent="    ") if error else [f"run {run.get('id')} ({run['spider']}):"]
        if log_file:
            lines.append(f"    log: {log_file}")
        details.append("\n".join(lines))
    return "\n\n".join([table, "\n".join(details)]) if details else table


def _runs_table(history: list[dict]) -> str:
    return render_table(
        ["ID", "SPIDER", "STARTED (UTC)", "FINISHED", "STATUS", "NEW", "UPDATED", "SAME", "DROPPED",
         "REQUESTS", "ERROR"],
        [[r.get("id"), r["spider"], short_time(r.get("started_at"), timezone.utc),
          short_time(r.get("finished_at"), timezone.utc),
          r["status"], r.get("articles_new"), r.get("articles_updated"), r.get("articles_unchanged"),
          r.get("items_dropped"), r.get("requests"), truncate(r.get("error") or _orphan_note(r), RUN_ERROR_WIDTH)]
         for r in history])


def render_flagged(flagged: list[dict]) -> str:
    """Captured pages that did not become a version (`runs`); `reparse` retries failed ones."""
    return f"{len(flagged)} page(s) kept but not archived (`newsarchive reparse` retries failed extractions):\n" \
        + render_table(["SEEN (UTC)", "ARTICLE", "PROBLEM", "REASON"],
                       [[short_time(f["seen_at"], timezone.utc), article_ref(f), f["problem"].replace("_", " "),
                         truncate(f["reason"], 60)] for f in flagged])


def _orphan_note(run: dict) -> str:
    """For a `running` run whose process on this host is gone (a crawl killed by SIGKILL, which
    could not record its end; the scheduler fails such runs when it next starts)."""
    if run["status"] != "running" or not run.get("pid") or run.get("host") != socket.gethostname():
        return ""
    import psutil  # only for a run that may be orphaned

    try:
        if psutil.Process(run["pid"]).status() != psutil.STATUS_ZOMBIE:
            return ""
    except psutil.NoSuchProcess:
        pass
    except psutil.AccessDenied:
        return ""
    return f"process {run['pid']} is gone"


def render_health(report: Sequence[Any]) -> str:
    """`newsarchive health`: one row per source, then its problems (storage.health.SourceHealth)."""
    table = render_table(
        ["SOURCE", "STATUS", "LAST SUCCESS (UTC)", "NEWEST ARTICLE (TAIPEI)", "FAILED IN A ROW"],
        [[item.source, item.status, short_time(item.last_success_at, timezone.utc) or "never",
          short_time(item.newest_published_at, TAIPEI) or "none", item.failed_runs_in_a_row]
         for item in report])
    problems = [f"{item.source}: {problem}" for item in report for problem in item.problems]
    return "\n".join([table, "", *problems] if problems else [table])
