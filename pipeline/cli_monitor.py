"""``dualuse sources|crawl|watch|alerts|schedule``: the monitoring commands, a thin adapter over
``pipeline.sources``, ``pipeline.crawl``, ``pipeline.watch`` and ``flows.crawl``. Registered on the
main group by ``pipeline.cli``."""

from __future__ import annotations

import sys
from typing import Any

import click

from pipeline.cli import _emit_json, _settings, main, open_store
from pipeline.errors import UsageError
from pipeline.records import ENTITY_TYPES

# -- sources -------------------------------------------------------------------------------------


@main.group()
def sources() -> None:
    """The source registry (feeds, sitemaps, pages) that crawls and schedules watch."""


@sources.command(name="list")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def sources_list(ctx: click.Context, as_json: bool) -> None:
    from pipeline.sources import load_sources

    settings = _settings(ctx)
    found = load_sources(settings.sources_path)
    if as_json:
        _emit_json([s.to_json() for s in found])
        return
    if not found:
        click.echo(f"no sources in {settings.sources_path} (add one: dualuse sources add NAME URL)")
    for s in found:
        tags = f"  [{', '.join(s.tags)}]" if s.tags else ""
        click.echo(f"{s.name:<24} {s.kind:<8} {s.cron:<16} {s.url}{tags}")


@sources.command(name="add")
@click.argument("name")
@click.argument("url")
@click.option("--kind", type=click.Choice(["rss", "atom", "sitemap", "page"]),
              help="Default: guessed from the URL (sitemap, atom, rss/feed/.xml, else page).")
@click.option("--cron", help='When to crawl, 5-field cron in UTC. Default "0 */6 * * *".')
@click.option("--tag", "tags", multiple=True, help="A label (repeatable).")
@click.option("--include", multiple=True, help="Only item URLs matching this regular expression (repeatable).")
@click.option("--exclude", multiple=True, help="Never item URLs matching this regular expression (repeatable).")
@click.pass_context
def sources_add(ctx: click.Context, name: str, url: str, kind: str | None, cron: str | None, tags: tuple[str, ...],
                include: tuple[str, ...], exclude: tuple[str, ...]) -> None:
    from pipeline.sources import DEFAULT_CRON, Source, add_source, guess_kind

    settings = _settings(ctx)
    src = add_source(settings.sources_path, Source(name, url, kind or guess_kind(url), cron or DEFAULT_CRON, tags,
                                                   include, exclude))
    click.echo(f"added {src.name} ({src.kind}, {src.cron}) to {settings.sources_path}")


@sources.command(name="remove")
@click.argument("name")
@click.pass_context
def sources_remove(ctx: click.Context, name: str) -> None:
    from pipeline.sources import remove_source

    settings = _settings(ctx)
    src = remove_source(settings.sources_path, name)
    click.echo(f"removed {src.name} from {settings.sources_path}")


@sources.command(name="check")
@click.argument("name")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def sources_check(ctx: click.Context, name: str, as_json: bool) -> None:
    """Fetch the source once and report what a crawl would ingest; stores nothing."""
    from pipeline.sources import find_source, load_sources

    settings = _settings(ctx)
    src = find_source(load_sources(settings.sources_path), name)
    report = _run_crawl(settings, [src], dry_run=True)
    out = report.to_json()["per_source"][0]
    if as_json:
        _emit_json(out)
        return
    click.echo(f"{src.name}: {out['status']}{' (' + out['detail'] + ')' if out['detail'] else ''}; "
               f"{out['discovered']} item(s) listed, {out['queued']} new")
    for line in out["problems"]:
        click.echo(f"  {line}")


# -- crawl -----------------------------------------------------------------------------------------


def _run_crawl(settings: Any, selected: list[Any], *, dry_run: bool = False, progress: Any = None) -> Any:
    from pipeline.crawl import Crawler, polite_getter
    from pipeline.ingest import Pipeline

    pipe = Pipeline(settings)
    try:
        crawler = Crawler(pipe, polite_getter(settings))
        return crawler.run(selected, dry_run=dry_run, progress=progress)
    finally:
        pipe.close()


@main.command()
@click.option("--once", is_flag=True, help="Crawl now, once (no Prefect server needed).")
@click.option("--source", "names", multiple=True, help="Only this source (repeatable); default: all.")
@click.option("--json", "as_json", is_flag=True,
              help='Print {"sources", "fetched", "new", "updated", "unchanged", "failed", ...}.')
@click.pass_context
def crawl(ctx: click.Context, once: bool, names: tuple[str, ...], as_json: bool) -> None:
    """Fetch what is new in the registered sources, ingest it, and raise alerts for watches.

    Exit status 0 when every source and item was handled, 1 when any failed."""
    from pipeline.sources import find_source, load_sources

    if not once:
        raise UsageError("say --once to crawl now", hint="scheduled crawls run under 'dualuse schedule serve'")
    settings = _settings(ctx)
    registry = load_sources(settings.sources_path)
    selected = [find_source(registry, n) for n in names] if names else registry
    if not selected:
        raise UsageError(f"no sources in {settings.sources_path}", hint="add one: dualuse sources add NAME URL")

    def progress(source: str, result: Any) -> None:
        if not as_json and sys.stderr.isatty():
            click.echo(f"  {source}: {result.status} {result.source}", err=True)

    report = _run_crawl(settings, selected, progress=progress).to_json()
    if as_json:
        _emit_json(report)
    else:
        click.echo(f"sources: {report['sources']} ({report['sources_failed']} failed); items fetched: "
                   f"{report['fetched']}; new {report['new']}, updated {report['updated']}, unchanged "
                   f"{report['unchanged']}, skipped {report['skipped']}, failed {report['failed']}; "
                   f"alerts: {report['alerts']}")
        for s in report["per_source"]:
            if s["status"] == "failed":
                click.echo(f"  failed source {s['name']}: {s['detail']}")
            for p in s["problems"][:5]:
                click.echo(f"  {s['name']}: {p}")
            for item in s["items"]:
                click.echo(f"  {item['status']} [{item['reason']}] {item['url']}: {item['detail']}")
        for p in report["alert_problems"]:
            click.echo(f"  alerts: {p}")
    ctx.exit(1 if report["failed"] else 0)


# -- watches and alerts ----------------------------------------------------------------------------


@main.group()
def watch() -> None:
    """Saved queries and entities; new matching claims become alerts after each crawl."""


@watch.command(name="add")
@click.argument("name")
@click.option("--query", help="Match claims by meaning (and by all of its words).")
@click.option("--entity", help="Match claims naming this company, product, agency or region (any alias).")
@click.option("--company", multiple=True)
@click.option("--product", multiple=True)
@click.option("--agency", multiple=True)
@click.option("--region", multiple=True)
@click.option("--threshold", type=float, help="Cosine similarity for a query match (default: the setting).")
@click.pass_context
def watch_add(ctx: click.Context, name: str, query: str | None, entity: str | None, company: tuple[str, ...],
              product: tuple[str, ...], agency: tuple[str, ...], region: tuple[str, ...],
              threshold: float | None) -> None:
    from pipeline.watch import Watch, add_watch

    settings = _settings(ctx)
    filters = dict(zip(ENTITY_TYPES, (company, product, agency, region), strict=True))
    w = add_watch(settings.watches_path, Watch(name, query, entity, {k: v for k, v in filters.items() if v},
                                               threshold))
    click.echo(f"added watch {w.name} to {settings.watches_path}")


@watch.command(name="list")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def watch_list(ctx: click.Context, as_json: bool) -> None:
    from pipeline.watch import load_watches

    settings = _settings(ctx)
    found = load_watches(settings.watches_path)
    if as_json:
        _emit_json([w.to_json() for w in found])
        return
    if not found:
        click.echo("no watches (add one: dualuse watch add NAME --query '...' or --entity NAME)")
    for w in found:
        what = "; ".join(x for x in (f"query: {w.query}" if w.query else "", f"entity: {w.entity}" if w.entity else "",
                                     *(f"{k}: {', '.join(v)}" for k, v in w.filters.items())) if x)
        click.echo(f"{w.name:<24} {what}")


@watch.command(name="remove")
@click.argument("name")
@click.pass_context
def watch_remove(ctx: click.Context, name: str) -> None:
    from pipeline.watch import remove_watch

    settings = _settings(ctx)
    w = remove_watch(settings.watches_path, name)
    click.echo(f"removed watch {w.name}")


@main.command()
@click.option("--since", help="Only alerts raised at or after this ISO time (e.g. 2026-11-21 or 2026-11-21T08:00).")
@click.option("--limit", default=100, show_default=True, type=click.IntRange(1, 100000))
@click.option("--json", "as_json", is_flag=True,
              help='Print [{"watch", "claim_id", "text", "source", "url", "title", "published", "matched_at"}, ...].')
@click.pass_context
def alerts(ctx: click.Context, since: str | None, limit: int, as_json: bool) -> None:
    """Alerts raised by watches, newest first."""
    from pipeline.watch import alerts_json, check_since

    since = check_since(since)
    settings = _settings(ctx)
    with open_store(settings) as store:
        found = alerts_json(store, since, limit)
    if as_json:
        _emit_json(found)
        return
    if not found:
        click.echo("no alerts" + (f" since {since}" if since else ""))
    for a in found:
        click.echo(f"[{a['watch']}] {a['matched_at']}  {a['title'] or a['source']} ({a['published'] or 'undated'})")
        click.echo(f"    {a['text']}")
        click.echo(f"    {a['url'] or a['source']} · claim {a['claim_id']}")


# -- schedules -------------------------------------------------------------------------------------


@main.group()
def schedule() -> None:
    """Scheduled crawls: Prefect deployments, one per source, on its cron."""


@schedule.command(name="serve")
@click.pass_context
def schedule_serve(ctx: click.Context) -> None:
    """Serve a crawl deployment for every source on its cron (needs a running Prefect server)."""
    from flows.schedule import serve_schedules

    serve_schedules(_settings(ctx), log=lambda msg: click.echo(msg, err=True))


@schedule.command(name="server")
@click.option("--port", default=4200, show_default=True, type=int)
@click.pass_context
def schedule_server(ctx: click.Context, port: int) -> None:
    """Start a local Prefect server (SQLite under the data home, loopback only, analytics off)."""
    from flows.schedule import run_server

    sys.exit(run_server(_settings(ctx), port))
