"""The ``dualuse`` command line: a thin adapter over the library.

Every ``DualuseError`` is translated here, once, into one line on stderr and an exit code
(1 for failures, 2 for usage errors). Heavy modules are imported inside commands, so ``--help``
and argument errors are instant.
"""

from __future__ import annotations

import json
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from pipeline.errors import DualuseError, UsageError
from pipeline.records import ENTITY_TYPES, OTHER_ORG_TYPES
from pipeline.settings import PROJECT_ROOT, Settings, apply_offline_env

if TYPE_CHECKING:
    from pipeline.store import Store

DEMO_DIR = PROJECT_ROOT / "corpus" / "demo"
DEMO_QUERIES: tuple[tuple[str, dict[str, tuple[str, ...]]], ...] = (
    ("which vendors' DNA equipment reached police in Xinjiang?", {}),
    ("police bought DNA equipment through resellers", {"company": ("Promega",)}),
    ("spyware used to hack journalists' phones", {}),
    ("cameras that detect Uyghur faces", {}),
)


class Group(click.Group):
    """Translates library errors into one line and an exit code."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except DualuseError as exc:
            click.echo(f"error: {exc.one_line()}", err=True)
            ctx.exit(exc.exit_code)
        except KeyboardInterrupt:
            click.echo("interrupted", err=True)
            ctx.exit(130)


def _settings(ctx: click.Context) -> Settings:
    settings: Settings = ctx.obj["settings"]
    return settings


@contextmanager
def open_store(settings: Settings) -> Iterator[Store]:
    """The canonical store in the data home, closed after the command."""
    from pipeline.store import Store

    settings.ensure_home()
    store = Store(settings.db_path)
    try:
        yield store
    finally:
        store.close()


def _emit_json(data: Any) -> None:
    click.echo(json.dumps(data, ensure_ascii=False, indent=None))


@click.group(cls=Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--home", type=click.Path(file_okay=False, path_type=Path), envvar="DUALUSE_HOME",
              help="Data directory (store, index, snapshots). Default: ./data in a checkout.")
@click.pass_context
def main(ctx: click.Context, home: Path | None) -> None:
    """dualuse: evidence search over coverage of technology used against people."""
    apply_offline_env()
    ctx.ensure_object(dict)
    ctx.obj["settings"] = Settings.load(home=home)


# ---------------------------------------------------------------------------------------------
# ingest


@main.command()
@click.argument("sources", nargs=-1, required=True)
@click.option("--json", "as_json", is_flag=True, help="Print the run report as JSON.")
@click.option("--no-prefect", is_flag=True, help="Run the stages in-process without a Prefect flow run.")
@click.pass_context
def ingest(ctx: click.Context, sources: tuple[str, ...], as_json: bool, no_prefect: bool) -> None:
    """Ingest files, directories (recursive) and http(s) URLs.

    Exit status: 0 when every source was handled (added, updated, unchanged or skipped with a
    reason), 1 when any failed, 2 for usage errors."""
    report = run_ingest(_settings(ctx), list(sources), use_prefect=not no_prefect)
    _print_report(report, as_json)
    ctx.exit(0 if report["failed"] == 0 else 1)


def run_ingest(settings: Settings, sources: list[str], *, use_prefect: bool = True) -> dict[str, Any]:
    from pipeline.ingest import Pipeline

    settings.ensure_home()
    pipe = Pipeline(settings)
    pipe.on_result = _progress_line
    # Load the models while Prefect's temporary API server starts: the two waits overlap.
    warm = threading.Thread(target=pipe.warm_up, daemon=True)
    warm.start()
    try:
        if use_prefect:
            from flows.prefect_env import configure_prefect

            configure_prefect(settings)
            from flows.ingest import ingest_flow

            report: dict[str, Any] = ingest_flow(sources=sources, pipeline=pipe)
        else:
            from pipeline.ingest import ingest as ingest_lib

            report = ingest_lib(sources, settings, pipeline=pipe).to_json()
    finally:
        pipe.close()
    return report


def _progress_line(result: Any) -> None:
    """One line per source on a terminal; silent when stderr is not a TTY (scripts, CI)."""
    if sys.stderr.isatty():
        extra = f" ({result.claims} claims)" if result.claims else f" [{result.reason}]" if result.reason else ""
        click.echo(f"  {result.status:<9} {result.source}{extra}", err=True)


def _print_report(report: dict[str, Any], as_json: bool) -> None:
    from pipeline.ingest import describe

    if as_json:
        _emit_json(report)
        return
    for line in describe(report):
        click.echo(line)


# ---------------------------------------------------------------------------------------------
# search


@main.command()
@click.argument("query", nargs=-1, required=True)
@click.option("--limit", default=10, show_default=True, type=int, help="Number of claims to show.")
@click.option("--company", multiple=True, help="Only claims naming this company (repeatable: AND).")
@click.option("--product", multiple=True, help="Only claims naming this product.")
@click.option("--agency", multiple=True, help="Only claims naming this agency.")
@click.option("--region", multiple=True, help="Only claims naming this region.")
@click.option("--since", help="Only documents published on or after YYYY-MM-DD.")
@click.option("--until", help="Only documents published on or before YYYY-MM-DD.")
@click.option("--source", "sources", multiple=True,
              help="Only documents from this source: path or URL as ingested, outlet name, or host (hrw.org).")
@click.option("--by", "by", type=click.Choice(["claim", "document"]), default="claim", show_default=True,
              help="Rank claims, or documents with their best claims under each.")
@click.option("--mode", type=click.Choice(["hybrid", "dense", "keyword"]),
              help="Ranking: dense + BM25 fused (default), embeddings only, or BM25 only.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def search(ctx: click.Context, query: tuple[str, ...], limit: int, company: tuple[str, ...],
           product: tuple[str, ...], agency: tuple[str, ...], region: tuple[str, ...],
           since: str | None, until: str | None, sources: tuple[str, ...], by: str, mode: str | None,
           as_json: bool) -> None:
    """Search claims (hybrid dense + keyword), with cited passages."""
    from dataclasses import replace

    from pipeline.ingest import Pipeline
    from pipeline.render import documents_text, hits_text
    from pipeline.search import SearchQuery, by_document
    from pipeline.search import search as run_search

    settings = _settings(ctx)
    text = " ".join(query)
    filters = {k: v for k, v in (("company", company), ("product", product), ("agency", agency),
                                 ("region", region)) if v}
    q = SearchQuery(text=text, limit=limit, filters=filters, since=since, until=until, mode=mode or "",
                    sources=sources).validated()
    pipe = Pipeline(settings)
    wide = replace(q, limit=max(q.limit * 5, 50)) if by == "document" else q
    try:
        hits = run_search(wide, pipe.store, pipe.index, pipe.embedder, settings, pipe.tagger)
    finally:
        pipe.close()
    if by == "document":
        docs = by_document(hits, q.limit)
        if as_json:
            _emit_json({"query": q.text, "documents": [d.to_json() for d in docs]})
        else:
            click.echo(documents_text(q.text, docs, bold=sys.stdout.isatty()))
    elif as_json:
        _emit_json({"query": q.text, "hits": [h.to_json() for h in hits]})
    else:
        click.echo(hits_text(q.text, hits, bold=sys.stdout.isatty()))


@main.command()
@click.argument("claim_id")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def show(ctx: click.Context, claim_id: str, as_json: bool) -> None:
    """Print a claim in its paragraph, with its source, date, offsets and snapshot hash."""
    from pipeline.errors import UsageError
    from pipeline.render import claim_text

    settings = _settings(ctx)
    with open_store(settings) as store:
        detail = store.claim_detail(claim_id.strip())
    if detail is None:
        raise UsageError(f"no claim with id '{claim_id}'", hint="claim ids are printed by 'dualuse search'")
    if as_json:
        _emit_json(detail)
    else:
        click.echo(claim_text(detail, bold=sys.stdout.isatty()))


# ---------------------------------------------------------------------------------------------
# dossier


@main.command()
@click.argument("name", nargs=-1, required=True)
@click.option("--format", "fmt", type=click.Choice(["md", "html", "json", "csv"]), default=None,
              help="Output format (csv: the chain rows). Default: from --out's suffix, else md.")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path),
              help="Write to this file (atomically) instead of standard output.")
@click.option("--since", help="Only claims from documents published on or after YYYY-MM-DD.")
@click.option("--until", help="Only claims from documents published on or before YYYY-MM-DD.")
@click.option("--pack", type=click.Path(dir_okay=False, path_type=Path),
              help="Also write an evidence pack (zip: dossier, CSVs, raw snapshots, SHA-256 manifest).")
@click.pass_context
def dossier(ctx: click.Context, name: tuple[str, ...], fmt: str | None, out: Path | None, since: str | None,
            until: str | None, pack: Path | None) -> None:
    """A company dossier: chain of products, agencies and regions, claims by stance, timeline and
    sources. NAME is the company's name or any alias; brands and subsidiaries are rolled up."""
    from pipeline.dossier import build_dossier
    from pipeline.dossier_render import render
    from pipeline.files import atomic_write
    from pipeline.kb import load_kb
    from pipeline.pack import write_pack

    settings = _settings(ctx)
    if fmt is None:
        suffix = out.suffix.lower().lstrip(".") if out else ""
        fmt = {"markdown": "md", "htm": "html"}.get(suffix, suffix) if suffix in (
            "md", "markdown", "html", "htm", "json", "csv") else "md"
    with open_store(settings) as store:
        d = build_dossier(store, load_kb(settings.kb_extra), " ".join(name), since, until)
        if not d.claims:
            window = f" published {since or '…'} to {until or '…'}" if since or until else ""
            click.echo(f"note: no claims about {d.company}{window}; the dossier is empty", err=True)
        if pack is not None:
            summary = write_pack(d, store, settings.snapshots_path, pack)
            click.echo(f"wrote {pack}: {summary.files} files, {summary.snapshots} snapshots"
                       + (f", {len(summary.missing)} snapshot(s) missing from the store (listed in README.txt)"
                          if summary.missing else ""), err=True)
            if out is None:
                return
    text = render(d, fmt)
    if out is not None:
        atomic_write(out, text)
        click.echo(f"wrote {out} ({fmt}, {len(d.claims)} claims, {len(d.sources)} sources)", err=True)
    else:
        click.echo(text, nl=False)


@main.command()
@click.argument("csv_file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--format", "fmt", type=click.Choice(["table", "csv", "json"]), default="table",
              help="table (default), csv (spreadsheet-safe) or json.")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), help="Write to this file (atomically).")
@click.pass_context
def batch(ctx: click.Context, csv_file: Path, fmt: str, out: Path | None) -> None:
    """How much evidence exists for each name in a CSV (companies, products, agencies, regions).

    CSV_FILE: one name per row, or a column headed 'name' and optionally 'type'. Every name gets a
    row: found, no evidence, ambiguous or not found (with the closest known names)."""
    from pipeline.batch import evidence, read_names, to_csv, to_json
    from pipeline.files import atomic_write
    from pipeline.kb import load_kb

    settings = _settings(ctx)
    try:
        data = csv_file.read_bytes()
    except OSError as exc:
        raise UsageError(f"cannot read {csv_file}: {exc.strerror or exc}", hint="give a CSV file of names") from None
    names = read_names(data, str(csv_file))
    with open_store(settings) as store:
        rows = evidence(store, load_kb(settings.kb_extra), names)
    if fmt == "table":
        text = "".join(f"{r.status:<12} {r.claims:>6} claims {r.documents:>5} docs {r.independent_sources:>5} sources"
                       f"  {r.name}" + (f" -> {r.canonical} ({r.matched_type})" if r.canonical else "")
                       + (f"  [{r.note}]" if r.note else "") + "\n" for r in rows)
    else:
        text = to_csv(rows) if fmt == "csv" else to_json(rows) + "\n"
    if out is not None:
        atomic_write(out, text)
        click.echo(f"wrote {out} ({fmt}, {len(rows)} names)", err=True)
    else:
        click.echo(text, nl=False)


# ---------------------------------------------------------------------------------------------
# tag, stats, reindex


@main.command()
@click.argument("paths", nargs=-1, required=True)
@click.option("--json", "as_json", is_flag=True, help="One JSON line per input (the only format for now).")
@click.pass_context
def tag(ctx: click.Context, paths: tuple[str, ...], as_json: bool) -> None:
    """Tag entities in files without storing anything."""
    from pipeline.errors import SourceError
    from pipeline.extract import extract
    from pipeline.fetch import expand_sources, load
    from pipeline.tag import Tagger

    settings = _settings(ctx)
    tagger = Tagger(settings)
    failed = False
    for source in expand_sources(paths):
        try:
            doc = extract(load(source, settings))
        except SourceError as exc:
            click.echo(f"error: {exc.one_line()}", err=True)
            failed = True
            continue
        result = tagger.tag(doc.text)
        row: dict[str, Any] = {
            "id": Path(source).stem if "://" not in source else doc.doc_id,
            "source": source,
            "entities": [{"text": m.text, "label": m.label, "canonical": m.canonical,
                          "start": m.start, "end": m.end} for m in result.mentions],
        }
        if as_json:
            _emit_json(row)
        else:
            click.echo(f"{source}:")
            for e in row["entities"]:
                click.echo(f"  {e['label']:<9} {e['text']}  -> {e['canonical']}  [{e['start']}:{e['end']}]")
    ctx.exit(1 if failed else 0)


@main.command()
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def stats(ctx: click.Context, as_json: bool) -> None:
    """Counts of documents, claims and entities in the store."""
    settings = _settings(ctx)
    with open_store(settings) as store:
        counts = store.stats()
    if as_json:
        _emit_json(counts)
    else:
        click.echo(", ".join(f"{v} {k}" for k, v in counts.items()) + f"  ({settings.home})")


ENTITY_LABELS = (*ENTITY_TYPES, *OTHER_ORG_TYPES)


@main.command()
@click.option("--type", "etype", type=click.Choice(ENTITY_LABELS), help="Only entities of this type.")
@click.option("--limit", type=click.IntRange(min=1), help="At most this many, most mentioned first.")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def entities(ctx: click.Context, etype: str | None, limit: int | None, as_json: bool) -> None:
    """List canonical entities with mention and document counts and their aliases."""
    settings = _settings(ctx)
    with open_store(settings) as store:
        rows = store.entity_listing(etype, limit)
    if as_json:
        _emit_json(rows)
        return
    for r in rows:
        others = [a for a in r["aliases"] if a != r["canonical"]]
        aka = f"  aka {'; '.join(others)}" if others else ""
        of = f"  [part of {r['parent']}]" if r["parent"] else ""
        click.echo(f"{r['type']:<9} {r['canonical']}  ({r['mentions']} mentions, {r['documents']} docs){of}{aka}")


@main.command()
@click.pass_context
def reindex(ctx: click.Context) -> None:
    """Rebuild the vector and keyword indexes from the canonical store."""
    import sqlite3

    from pipeline import keyword
    from pipeline.errors import StoreError
    from pipeline.index import VectorIndex, rebuild
    from pipeline.writer import writing

    settings = _settings(ctx)
    with writing(settings, "dualuse reindex"), open_store(settings) as store:
        n = rebuild(store, VectorIndex(settings.chroma_path))
        if settings.keyword_index:
            try:
                keyword.refresh(store, settings.keyword_path, force=True)
            except (OSError, sqlite3.Error, keyword.KeywordIndexError) as exc:
                raise StoreError(f"cannot build the keyword index in {settings.keyword_path}: {exc}",
                                 hint="keyword search uses FTS5 meanwhile; check the data directory's space "
                                      "and permissions") from exc
    click.echo(f"reindexed {n} claims")


# ---------------------------------------------------------------------------------------------
# demo, doctor


@main.command()
@click.pass_context
def demo(ctx: click.Context) -> None:
    """Ingest the bundled demo corpus and run a few example searches."""
    from pipeline.ingest import Pipeline
    from pipeline.render import hits_text
    from pipeline.search import SearchQuery
    from pipeline.search import search as run_search

    settings = _settings(ctx)
    notes = sorted(str(p) for p in DEMO_DIR.glob("*.md"))
    click.echo(f"Ingesting {len(notes)} demo notes from {DEMO_DIR} into {settings.home} ...")
    report = run_ingest(settings, notes)
    _print_report(report, as_json=False)
    pipe = Pipeline(settings)
    try:
        for text, filters in DEMO_QUERIES:
            flags = "".join(f" --{k} {' '.join(v)}" for k, v in filters.items())
            click.echo(f"\n=== dualuse search \"{text}\"{flags} --limit 3\n")
            hits = run_search(SearchQuery(text, 3, filters), pipe.store, pipe.index, pipe.embedder, settings,
                              pipe.tagger)
            click.echo(hits_text(text, hits))
    finally:
        pipe.close()
    click.echo("\nTry your own: dualuse search \"...\" [--company X] [--region X] [--json]")


@main.command()
@click.pass_context
def doctor(ctx: click.Context) -> None:
    """Check that models load offline, the store opens and Prefect runs."""
    from pipeline.doctor import run_checks

    ok = True
    for name, passed, detail in run_checks(_settings(ctx)):
        ok &= passed
        click.echo(f"{'ok  ' if passed else 'FAIL'}  {name}: {detail}")
    ctx.exit(0 if ok else 1)


# ---------------------------------------------------------------------------------------------
# measurement


@main.command()
@click.option("--claims", "n_claims", default=100000, show_default=True,
              help="Index size for search latency (distinct embedded sentences).")
@click.option("--docs", "n_docs", default=200, show_default=True,
              help="Generated documents for stage throughput (0 skips the stages).")
@click.option("--queries", "n_queries", default=200, show_default=True, help="Queries per latency measurement.")
@click.option("--skip-cold", is_flag=True, help="Skip the cold-process timings.")
@click.option("--memory-docs", default=0, show_default=True,
              help="Also tag this many documents in one process and sample memory (e.g. 10000).")
@click.option("--dossier-claims", default=10000, show_default=True,
              help="Claims about one company in the dossier timing (0 to skip).")
@click.option("--crawl", "crawl_shape", nargs=3, type=(int, int, float), default=(10, 100, 1.0), show_default=True,
              help="Crawl bench: HOSTS PAGES-PER-HOST DELAY-SECONDS (local servers on 127.0.0.1).")
@click.option("--only", type=click.Choice(["stages", "search", "dossier", "crawl", "web"]), multiple=True,
              help="Run only these parts (repeatable); default: all.")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def bench(ctx: click.Context, n_claims: int, n_docs: int, n_queries: int, skip_cold: bool, memory_docs: int,
          dossier_claims: int, crawl_shape: tuple[int, int, float], only: tuple[str, ...], as_json: bool) -> None:
    """Measure throughput per stage, search latency, dossier rendering and peak memory; prints JSON."""
    from pipeline.bench import run_bench

    result = run_bench(_settings(ctx), n_claims=n_claims, n_docs=n_docs, n_queries=n_queries,
                       cold=not skip_cold and not only, memory_docs=memory_docs, dossier_claims=dossier_claims,
                       parts=only or ("stages", "search", "dossier", "crawl", "web"), crawl=crawl_shape,
                       log=lambda msg: click.echo(msg, err=True))
    click.echo(json.dumps(result, indent=None if as_json else 2))


@main.command(name="eval")
@click.argument("what", type=click.Choice(["entities", "stance", "retrieval", "dossier", "extraction", "all"]),
                default="all")
@click.option("--json", "as_json", is_flag=True)
@click.option("--check", is_flag=True, help="Exit 1 if any figure is below its floor in models/quality_floors.json.")
@click.option("--distractors", multiple=True, metavar="PATH",
              help="Retrieval: also ingest these files or folders (assumed not relevant), e.g. "
                   "../shared/article-extraction-benchmark/html. Repeatable.")
@click.option("--set", "set_name", type=click.Choice(["devset", "devset-wide"]), default="devset", show_default=True,
              help="Which dev set: the five documents, or the 60 texts on 20 topics (entities and stance per "
                   "topic, and retrieval; its texts rebuilt into data/devset-wide as its README says).")
@click.option("--leave-kb-out", is_flag=True,
              help="Entities: also tag with every name the set's gold lists removed from the knowledge base.")
@click.pass_context
def eval_cmd(ctx: click.Context, what: str, as_json: bool, check: bool, distractors: tuple[str, ...],
             set_name: str, leave_kb_out: bool) -> None:
    """Measure quality on ../shared: entities, stance, retrieval and dossiers on the dev set, extraction on
    the benchmark."""
    from pipeline.evaluation.report import WIDE_MEASURES, run_eval

    if (set_name != "devset" or leave_kb_out) and what not in WIDE_MEASURES:
        raise UsageError(f"'dualuse eval {what}' runs on the five-document set only",
                         hint="with --set devset-wide or --leave-kb-out, measure: " + ", ".join(WIDE_MEASURES))
    if (set_name != "devset" or leave_kb_out) and check:
        raise UsageError("--check compares the five-document set with its floors",
                         hint="run 'dualuse eval --check' without --set or --leave-kb-out")

    if distractors and what != "retrieval":
        raise UsageError("--distractors applies to 'dualuse eval retrieval' only",
                         hint="run 'dualuse eval retrieval --distractors PATH'")
    if distractors and check:
        raise UsageError("--check compares the dev set alone with its floors; it cannot be combined with --distractors",
                         hint="run 'dualuse eval --check' and 'dualuse eval retrieval --distractors PATH' separately")
    result, failures = run_eval(_settings(ctx), what, distractors, set_name, leave_kb_out)
    if as_json:
        _emit_json(result)
    else:
        click.echo(json.dumps(result, indent=2))
    for f in failures:
        click.echo(f"below floor: {f}", err=True)
    ctx.exit(1 if check and failures else 0)


@main.command(name="train")
@click.argument("what", type=click.Choice(["typer", "stance"]))
@click.option("--cv-only", is_flag=True, help="Report the leave-topic-out figures; do not write new weights.")
@click.pass_context
def train_cmd(ctx: click.Context, what: str, cv_only: bool) -> None:
    """Train the span typer (models/span-typer/) or the stance model (models/stance/) on both dev sets,
    after reporting its leave-topic-out figures on the wide set."""
    settings = _settings(ctx)
    if what == "stance":
        from pipeline.evaluation import stance_training

        _emit_json(stance_training.cross_validate(settings))
        if not cv_only:
            model = stance_training.train_shipped(settings)
            click.echo(f"wrote the stance model ({len(model.features):,} features)", err=True)
        return
    from pipeline.evaluation.typer_training import cross_validate, train_shipped

    figures = cross_validate(settings, log=lambda msg: click.echo(msg, err=True))
    _emit_json({name: {how: {"scores": scored["scores"],
                             "per_topic": {t: s["micro"] for t, s in scored.get("per_topic", {}).items()}}
                       for how, scored in by_how.items()} for name, by_how in figures.items()})
    if not cv_only:
        typer = train_shipped(settings)
        click.echo(f"wrote the span typer ({len(typer.features):,} features, {typer.meta['examples']:,} examples)",
                   err=True)


# the monitoring commands (sources, crawl, watch, alerts, schedule) register themselves on ``main``
import pipeline.cli_monitor  # noqa: E402,F401
from pipeline import cli_web  # noqa: E402,F401

if __name__ == "__main__":  # pragma: no cover
    # run as ``python -m pipeline.cli``: this module is __main__, and cli_monitor registered its
    # commands on the importable ``pipeline.cli``, so run that one's group
    from pipeline.cli import main as registered

    registered()
