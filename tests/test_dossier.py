"""Company dossiers: name resolution, roll-up of brands and products, the dev-set target, the JSON
contract, HQ regions and chain rows, date windows, undated stores, and the ``dossier`` command."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path
from typing import Any

import pytest

from pipeline.dossier import (
    DossierClaim,
    build_dossier,
    chain_rows,
    context_claims,
    hq_regions,
    implied_products,
    resolve_company,
    specific_regions,
)
from pipeline.errors import UsageError
from pipeline.kb import load_kb
from pipeline.records import entity_id
from pipeline.settings import PROJECT_ROOT, Settings
from pipeline.stance import STANCES
from tests.conftest import require_devset
from tests.helpers import assert_one_line_error, cli

THERMO = "Thermo Fisher Scientific"
THERMO_ID = entity_id("company", THERMO)
PROMEGA_ID = entity_id("company", "Promega")

# A small corpus written for these tests (none of it is dev-set text).


def md_doc(title: str, published: str, url: str, *paragraphs: str) -> str:
    front = f'---\ntitle: "{title}"\npublished: {published}\nurl: {url}\noutlet: Example Wire\n---\n\n'
    return front + f"# {title}\n\n" + "\n\n".join(paragraphs) + "\n"


MINI_DOCS = {
    "a-kashgar.md": md_doc(
        "Genetic analyzers reach police in Kashgar", "2020-03-05", "https://example.org/kashgar-analyzers",
        "Applied Biosystems genetic analyzers were delivered to the Kashgar Public Security Bureau in February 2019, "
        "procurement records show.",
        "Tender documents show that a police forensic laboratory in Tibet bought PowerPlex 21 kits in March 2018."),
    "b-rules.md": md_doc(
        "Sequencer maker changes its sales rules", "2022-08-10", "https://example.org/sequencer-rules",
        "Thermo Fisher Scientific said on Tuesday that it had stopped selling sequencers to the Xinjiang police "
        "after an internal review.",
        "Human rights groups said Promega kits were still reaching police in Xinjiang through resellers in 2022."),
    "c-undated.txt": "Illumina sold sequencing machines to a university laboratory in Kenya, a company spokesperson "
                     "said.\n\nThe laboratory said the Illumina machines bought in March 2018 were used for crop "
                     "research and not for surveillance.\n",
}
APPLIED_TEXT = "Applied Biosystems genetic analyzers were delivered to the Kashgar Public Security Bureau"
POWERPLEX_TEXT = "Tender documents show that a police forensic laboratory in Tibet bought PowerPlex 21 kits"
THERMO_2022_TEXT = "Thermo Fisher Scientific said on Tuesday that it had stopped selling sequencers"


def norm(text: str) -> str:
    return " ".join(text.split())


@pytest.fixture(scope="module")
def kb() -> Any:
    return load_kb()


@pytest.fixture(scope="module")
def mini(tmp_path_factory: pytest.TempPathFactory, shared_tagger: Any, shared_embedder: Any) -> Any:
    """The three MINI_DOCS ingested once into their own home; read-only for the tests."""
    from pipeline.ingest import Pipeline, ingest

    folder = tmp_path_factory.mktemp("mini-docs")
    for name, text in MINI_DOCS.items():
        (folder / name).write_text(text, encoding="utf-8")
    settings = Settings.load(home=tmp_path_factory.mktemp("mini-home"))
    pipe = Pipeline(settings, tagger=shared_tagger, embedder=shared_embedder)
    report = ingest([str(folder)], settings, pipeline=pipe)
    assert report.ok and report.summary()["added"] == 3, report.to_json()
    yield pipe
    pipe.close()


def claim_with(d, fragment: str):
    found = [c for c in d.claims if fragment in c.text]
    assert len(found) == 1, [c.text for c in d.claims]
    return found[0]


# ---------------------------------------------------------------------------------------------
# 1. name resolution


@pytest.mark.parametrize("name", [THERMO, "thermo fisher", "THERMO FISHER SCIENTIFIC", "Thermo Fisher Scientific Inc.",
                                  "  Thermo   Fisher  "])
def test_resolve_thermo_fisher_by_any_name_and_case(demo_store, kb, name: str) -> None:
    assert resolve_company(demo_store.pipe.store, kb, name) == (THERMO_ID, THERMO)


@pytest.mark.parametrize("name", ["Promega", "promega", "Promega Corporation", "PROMEGA CORP."])
def test_resolve_promega_by_any_name_and_case(demo_store, kb, name: str) -> None:
    assert resolve_company(demo_store.pipe.store, kb, name) == (PROMEGA_ID, "Promega")


@pytest.mark.parametrize("company", [THERMO, "Promega"])
def test_every_alias_seen_resolves_to_its_company(demo_store, kb, company: str) -> None:
    store = demo_store.pipe.store
    eid = entity_id("company", company)
    aliases = store.aliases_of([eid]).get(eid, [])
    assert aliases, f"the demo corpus names {company} in more than one way"
    for alias in aliases:
        assert resolve_company(store, kb, alias) == (eid, company), alias
        assert resolve_company(store, kb, alias.swapcase()) == (eid, company), alias


def test_unknown_name_lists_closest_candidates(demo_store, kb) -> None:
    with pytest.raises(UsageError) as exc:
        resolve_company(demo_store.pipe.store, kb, "Thermo Fishr")
    assert "no company named 'Thermo Fishr'" in exc.value.message
    assert exc.value.hint and THERMO in exc.value.hint
    assert exc.value.exit_code == 2


def test_unknown_name_with_no_shared_word_still_suggests(demo_store, kb) -> None:
    with pytest.raises(UsageError) as exc:
        resolve_company(demo_store.pipe.store, kb, "Zyxw Qqq")
    assert "no company named 'Zyxw Qqq'" in exc.value.message
    assert exc.value.hint and exc.value.hint.startswith("closest known companies: ")
    assert THERMO in exc.value.hint or "Promega" in exc.value.hint


@pytest.mark.parametrize("name", ["PowerPlex 21", "powerplex 21 system", "POWERPLEX 21"])
def test_product_name_points_at_its_vendor(mini, kb, name: str) -> None:
    with pytest.raises(UsageError) as exc:
        resolve_company(mini.store, kb, name)
    assert "is a product of Promega, not a company" in exc.value.message
    assert exc.value.hint == "try: dualuse dossier 'Promega'"


def test_kb_only_product_alias_points_at_its_vendor(mini, kb) -> None:
    with pytest.raises(UsageError) as exc:
        resolve_company(mini.store, kb, "PP21")
    assert "is a product of Promega, not a company" in exc.value.message


@pytest.mark.parametrize("name", ["Xinjiang", "tibet"])
def test_region_name_is_not_a_company(mini, kb, name: str) -> None:
    with pytest.raises(UsageError) as exc:
        resolve_company(mini.store, kb, name)
    assert "is a known region" in exc.value.message and "not a company" in exc.value.message


@pytest.mark.parametrize("name", ["", "   ", "\t\n"])
def test_empty_name_is_usage_error(mini, kb, name: str) -> None:
    with pytest.raises(UsageError, match="the company name is empty"):
        resolve_company(mini.store, kb, name)


def test_empty_store_has_no_candidates(settings_factory, kb) -> None:
    from pipeline.store import Store

    settings = settings_factory()
    settings.ensure_home()
    store = Store(settings.db_path)
    try:
        with pytest.raises(UsageError) as exc:
            resolve_company(store, kb, "Promega")
    finally:
        store.close()
    assert "no company named 'Promega'" in exc.value.message
    assert exc.value.hint == "no company is known yet; ingest documents first"


# ---------------------------------------------------------------------------------------------
# 2. roll-up of brands, subsidiaries and products


def test_brand_claims_roll_up_into_the_parent(mini, kb) -> None:
    d = build_dossier(mini.store, kb, "thermo fisher")
    assert d.company == THERMO
    assert "Applied Biosystems" in d.brands
    applied = claim_with(d, APPLIED_TEXT)
    assert applied.companies == ("Applied Biosystems",)  # it never names Thermo Fisher itself
    claim_with(d, THERMO_2022_TEXT)
    assert not any("PowerPlex" in c.text or "Illumina" in c.text for c in d.claims)
    assert any(r.agency == "Kashgar Public Security Bureau" and r.region == "Kashgar"
               and applied.claim_id in r.claims for r in d.chain)


def test_brand_dossier_names_its_parent_and_not_the_parents_claims(mini, kb) -> None:
    d = build_dossier(mini.store, kb, "Applied Biosystems")
    assert d.company == "Applied Biosystems"
    assert d.parent == THERMO
    assert [c.text for c in d.claims] == [claim_with(d, APPLIED_TEXT).text]


def test_kb_product_claims_roll_up_into_the_vendor(mini, kb) -> None:
    d = build_dossier(mini.store, kb, "Promega")
    powerplex = claim_with(d, POWERPLEX_TEXT)
    assert powerplex.companies == ()  # only the product is named
    assert powerplex.products == ("PowerPlex 21 System",)
    assert d.products == ("PowerPlex 21 System",)
    claim_with(d, "Human rights groups said Promega kits")
    assert not any("Applied Biosystems" in c.text for c in d.claims)
    assert any(r.product == "PowerPlex 21 System" and powerplex.claim_id in r.claims for r in d.chain)


def test_timeline_has_publication_and_stated_dates(mini, kb) -> None:
    d = build_dossier(mini.store, kb, THERMO)
    applied, thermo = claim_with(d, APPLIED_TEXT), claim_with(d, THERMO_2022_TEXT)
    assert [e.value for e in applied.event_dates] == ["2019-02"]
    assert [e.value for e in thermo.event_dates] == ["2022-08-09"]  # "on Tuesday" before Wed 2022-08-10
    assert [(e.date, e.kind, e.claim_id) for e in d.timeline()] == [
        ("2019-02", "event", applied.claim_id), ("2020-03-05", "published", applied.claim_id),
        ("2022-08-09", "event", thermo.claim_id), ("2022-08-10", "published", thermo.claim_id)]
    assert d.date_span == ("2020-03-05", "2022-08-10")
    assert [c.claim_id for c in d.claims] == [applied.claim_id, thermo.claim_id]  # by publication date


# ---------------------------------------------------------------------------------------------
# 3. the dev-set target


def gold_claims() -> list[dict[str, Any]]:
    docs = require_devset()
    path = docs.parent / "claims.jsonl"
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


@pytest.mark.parametrize(("company", "other"), [(THERMO, "Promega"), ("Promega", THERMO)])
def test_devset_gold_claims_are_in_the_dossier(demo_store, kb, company: str, other: str) -> None:
    gold = gold_claims()
    assert demo_store.with_devset
    d = build_dossier(demo_store.pipe.store, kb, company)
    texts = [norm(c.text) for c in d.claims]
    wanted = [g for g in gold if company in {g["company"], *g["other_companies"]}]
    assert len(wanted) >= 5
    missing = [g["id"] for g in wanted if norm(g["quote"]) not in texts]
    assert not missing, f"gold claims about {company} missing from its dossier: {missing}"
    family = {company, *d.brands}
    foreign = [g for g in gold if g["company"] and not ({g["company"], *g["other_companies"]} & family)
               and other in {g["company"], *g["other_companies"]}]
    assert foreign, f"the dev set has claims only about {other}"
    leaked = [g["id"] for g in foreign
              if any(norm(g["quote"]) in t or t in norm(g["quote"]) for t in texts)]
    assert not leaked, f"claims only about {other} in the {company} dossier: {leaked}"


# ---------------------------------------------------------------------------------------------
# 4. the JSON contract


@pytest.fixture(scope="module")
def thermo_json(demo_store, kb) -> dict[str, Any]:
    return json.loads(json.dumps(build_dossier(demo_store.pipe.store, kb, THERMO).to_json()))


def test_json_contract(thermo_json: dict[str, Any]) -> None:
    j = thermo_json
    assert j["company"] == THERMO
    assert isinstance(j["aliases"], list) and all(isinstance(a, str) for a in j["aliases"])
    assert THERMO not in j["aliases"]
    assert j["claims"] and j["chain"] and j["sources"]
    claim_ids = [c["claim_id"] for c in j["claims"]]
    assert len(set(claim_ids)) == len(claim_ids)
    for row in j["chain"]:
        assert {"product", "agency", "region", "claims"} <= set(row)
        for key in ("product", "agency", "region"):
            assert row[key] is None or (isinstance(row[key], str) and row[key]), row
        assert row["product"] or row["agency"] or row["region"]
        assert row.get("region_role") in (None, "headquarters")
        assert row["claims"] and set(row["claims"]) <= set(claim_ids)
    for c in j["claims"]:
        assert {"claim_id", "text", "stance", "source", "url", "title", "published"} <= set(c)
        assert c["stance"] in STANCES
        assert isinstance(c["text"], str) and c["text"]
        assert c["published"] is None or re.fullmatch(r"\d{4}-\d{2}-\d{2}", c["published"])
    for s in j["sources"]:
        assert {"source", "url", "title", "published", "sha256"} <= set(s)
        assert re.fullmatch(r"[0-9a-f]{64}", s["sha256"])
    assert j["counts"]["claims"] == len(j["claims"]) and j["counts"]["documents"] == len(j["sources"])
    assert set(STANCES) == {"allegation", "company_statement", "official_statement", "fact"}


def test_json_validates_against_the_schema(thermo_json: dict[str, Any]) -> None:
    jsonschema = pytest.importorskip("jsonschema")
    schema = json.loads((PROJECT_ROOT / "pipeline" / "schemas" / "dossier.schema.json").read_text(encoding="utf-8"))
    jsonschema.validate(thermo_json, schema)


def test_json_provenance_matches_the_store(demo_store, thermo_json: dict[str, Any]) -> None:
    conn = demo_store.pipe.store.conn
    docs = {r["doc_id"]: r for r in conn.execute(
        "SELECT doc_id, raw_sha256, text, source, url, title, published FROM documents")}
    source_docs = {s["doc_id"] for s in thermo_json["sources"]}
    assert source_docs == {c["doc_id"] for c in thermo_json["claims"]}
    for s in thermo_json["sources"]:
        row = docs[s["doc_id"]]
        assert s["sha256"] == row["raw_sha256"]
        snapshot = demo_store.settings.snapshots_path / s["sha256"][:2] / s["sha256"]
        assert hashlib.sha256(snapshot.read_bytes()).hexdigest() == s["sha256"]
        assert (s["source"], s["url"], s["title"], s["published"]) == (row["source"], row["url"], row["title"],
                                                                       row["published"])
    for c in thermo_json["claims"]:
        assert docs[c["doc_id"]]["text"][c["start"]:c["end"]] == c["text"]
        assert (c["source"], c["published"]) == (docs[c["doc_id"]]["source"], docs[c["doc_id"]]["published"])


def test_cli_json_is_the_dossier(demo_store) -> None:
    result = cli("--home", demo_store.settings.home, "dossier", "Thermo", "Fisher", "--format", "json")
    assert result.exit_code == 0, result.output
    j = json.loads(result.stdout)
    assert j["company"] == THERMO
    assert j["counts"]["claims"] == len(j["claims"]) > 0


# ---------------------------------------------------------------------------------------------
# 5. HQ regions and chain rows


def mentions_in(text: str, spans: list[tuple[str, str]], offset: int = 0) -> list[tuple[str, int, int]]:
    """(entity id, start, end) for each (entity id, surface) in order of appearance, shifted by ``offset``."""
    out, pos = [], 0
    for eid, surface in spans:
        start = text.index(surface, pos)
        out.append((eid, offset + start, offset + start + len(surface)))
        pos = start + len(surface)
    return out


R = lambda name: entity_id("region", name)  # noqa: E731
C = lambda name: entity_id("company", name)  # noqa: E731
THERMO_FAMILY = {THERMO_ID, C("Applied Biosystems")}
PROMEGA_FAMILY = {PROMEGA_ID}

HQ_CASES = [
    ("Promega, a biotechnology company based in Madison, Wisconsin, sold kits to resellers.",
     [(C("Promega"), "Promega"), (R("Madison"), "Madison, Wisconsin")], PROMEGA_FAMILY, {R("Madison")}),
    ("Promega, a biotechnology company based in Madison, Wisconsin, sold kits to resellers.",
     [(C("Promega"), "Promega"), (R("Madison"), "Madison"), (R("Wisconsin"), "Wisconsin")], PROMEGA_FAMILY,
     {R("Madison"), R("Wisconsin")}),
    ("In February 2019, Waltham, Massachusetts-based Thermo Fisher announced that it would cease sales to Xinjiang.",
     [(R("Waltham"), "Waltham, Massachusetts"), (THERMO_ID, "Thermo Fisher"), (R("Xinjiang"), "Xinjiang")],
     THERMO_FAMILY, {R("Waltham")}),
    ("In February 2019, Waltham, Massachusetts-based Thermo Fisher announced that it would cease sales to Xinjiang.",
     [(R("Waltham"), "Waltham"), (R("Massachusetts"), "Massachusetts"), (THERMO_ID, "Thermo Fisher"),
      (R("Xinjiang"), "Xinjiang")], THERMO_FAMILY, {R("Waltham"), R("Massachusetts")}),
    ("The Waltham, Mass.-based company said it had stopped selling its products in Xinjiang.",
     [(R("Waltham"), "Waltham, Mass."), (R("Xinjiang"), "Xinjiang")], THERMO_FAMILY, {R("Waltham")}),
    ("As recently as Sunday, a Chinese company based in Urumqi, capital of Xinjiang, sold $ 40,563 of Thermo "
     "Fisher's products to the police in Korla.",
     [(R("Urumqi"), "Urumqi"), (R("Xinjiang"), "Xinjiang"), (THERMO_ID, "Thermo Fisher"), (R("Korla"), "Korla")],
     THERMO_FAMILY, set()),
    ("The purchase was arranged through Promega's authorized Xinjiang-based distributor, Hangzhou Xinyue "
     "Biotechnology Co.",
     [(C("Promega"), "Promega"), (R("Xinjiang"), "Xinjiang"),
      (C("Hangzhou Xinyue Biotechnology"), "Hangzhou Xinyue Biotechnology")], PROMEGA_FAMILY, set()),
    # a brand of the family counts as the company itself
    ("Applied Biosystems, a unit based in Foster City, California, shipped analyzers to Kashgar.",
     [(C("Applied Biosystems"), "Applied Biosystems"), (R("Foster City"), "Foster City"),
      (R("California"), "California"), (R("Kashgar"), "Kashgar")], THERMO_FAMILY,
     {R("Foster City"), R("California")}),
]


@pytest.mark.parametrize(("text", "spans", "family", "expected"), HQ_CASES)
@pytest.mark.parametrize("offset", [0, 1234])
def test_hq_regions(text: str, spans, family: set[str], expected: set[str], offset: int) -> None:
    mentions = mentions_in(text, spans, offset)
    assert hq_regions(text, offset, mentions, family) == expected


def test_hq_region_of_another_company_stays() -> None:
    text = "Waltham, Massachusetts-based Thermo Fisher and Promega both sold kits to police in Xinjiang."
    mentions = mentions_in(text, [(R("Waltham"), "Waltham, Massachusetts"), (THERMO_ID, "Thermo Fisher"),
                                  (PROMEGA_ID, "Promega"), (R("Xinjiang"), "Xinjiang")])
    assert hq_regions(text, 0, mentions, PROMEGA_FAMILY) == set()
    assert hq_regions(text, 0, mentions, THERMO_FAMILY) == {R("Waltham")}


def test_hq_regions_ignores_mentions_outside_the_claim() -> None:
    text = "Promega, a company based in Madison, sold kits."
    offset = 500
    mentions = mentions_in(text, [(PROMEGA_ID, "Promega"), (R("Madison"), "Madison")], offset)
    mentions += [(R("Madison"), 10, 17), (R("Madison"), offset + len(text) + 5, offset + len(text) + 12)]
    assert hq_regions(text, offset, mentions, PROMEGA_FAMILY) == {R("Madison")}


def test_based_in_after_a_verb_locates_another_company() -> None:
    text = "Thermo Fisher said a Chinese company based in Urumqi had resold its sequencers to the police."
    mentions = mentions_in(text, [(THERMO_ID, "Thermo Fisher"), (R("Urumqi"), "Urumqi")])
    assert hq_regions(text, 0, mentions, THERMO_FAMILY) == set()


def test_region_based_reseller_selling_the_companys_products_stays() -> None:
    text = "A Xinjiang-based distributor sold Promega kits to the police in Kashgar."
    mentions = mentions_in(text, [(R("Xinjiang"), "Xinjiang"), (PROMEGA_ID, "Promega"), (R("Kashgar"), "Kashgar")])
    assert hq_regions(text, 0, mentions, PROMEGA_FAMILY) == set()


def test_appositive_region_based_noun_is_the_companys_base() -> None:
    text = ("Thermo Fisher Scientific, a large US-based medical technology manufacturer, announced this week it "
            "would stop selling human identification technology in Xinjiang.")
    mentions = mentions_in(text, [(THERMO_ID, THERMO), (R("United States"), "US"), (R("Xinjiang"), "Xinjiang")])
    assert hq_regions(text, 0, mentions, THERMO_FAMILY) == {R("United States")}


def test_specific_regions_drops_the_containing_country(kb) -> None:
    assert specific_regions(["China", "Xinjiang"], kb) == ["Xinjiang"]
    assert specific_regions(["Xinjiang", "China", "Tibet", "Xinjiang"], kb) == ["Xinjiang", "Tibet"]
    assert specific_regions(["China"], kb) == ["China"]
    assert specific_regions(["China", "Kenya"], kb) == ["China", "Kenya"]
    assert specific_regions(["United States", "Wisconsin", "China"], kb) == ["Wisconsin", "China"]
    assert specific_regions(["Atlantis"], kb) == ["Atlantis"]


def dclaim(cid: str, products: tuple[str, ...] = (), agencies: tuple[str, ...] = (),
           regions: tuple[str, ...] = ()) -> DossierClaim:
    return DossierClaim(claim_id=cid, text=f"claim {cid}", stance="fact", doc_id="doc", source="/tmp/doc.txt",
                        url=None, title=None, published=None, start=0, end=9, companies=("Promega",),
                        products=products, agencies=agencies, regions=regions, event_dates=())


def links(rows) -> dict[tuple[str | None, str | None, str | None], tuple[str, ...]]:
    return {(r.product, r.agency, r.region): r.claims for r in rows if not getattr(r, "region_role", None)}


def test_chain_pairs_an_agency_with_the_region_in_its_name(kb) -> None:
    c = dclaim("c1", agencies=("Kashgar Public Security Bureau", "Xinjiang police"), regions=("Kashgar", "Xinjiang"))
    assert links(chain_rows([c], kb)) == {(None, "Kashgar Public Security Bureau", "Kashgar"): ("c1",),
                                          (None, "Xinjiang police", "Xinjiang"): ("c1",)}


def test_chain_agency_without_a_region_in_its_name_takes_the_claims_regions(kb) -> None:
    c = dclaim("c1", products=("PowerPlex 21 System",), agencies=("Ministry of Public Security",),
               regions=("China", "Xinjiang"))
    assert links(chain_rows([c], kb)) == {("PowerPlex 21 System", "Ministry of Public Security", "Xinjiang"): ("c1",)}


def test_chain_unpaired_regions_products_and_empty_claims(kb) -> None:
    rows = chain_rows([
        dclaim("c1", agencies=("Xinjiang police",), regions=("Xinjiang", "Tibet")),
        dclaim("c2", products=("PowerPlex 21 System",)),
        dclaim("c3"),
        dclaim("c4", agencies=("Xinjiang police",), regions=("China", "Xinjiang")),
        dclaim("c5", agencies=("Interpol",)),
    ], kb)
    assert links(rows) == {
        (None, "Xinjiang police", "Xinjiang"): ("c1", "c4"),
        (None, None, "Tibet"): ("c1",),
        ("PowerPlex 21 System", None, None): ("c2",),
        (None, "Interpol", None): ("c5",),
    }
    assert len(rows[0].claims) == 2  # most-cited link first
    assert not any("c3" in r.claims for r in rows)


def test_chain_region_in_agency_name_matches_whole_words(kb) -> None:
    c = dclaim("c1", agencies=("Nigeria Police Force",), regions=("Niger", "Nigeria"))
    assert links(chain_rows([c], kb)) == {(None, "Nigeria Police Force", "Nigeria"): ("c1",),
                                          (None, None, "Niger"): ("c1",)}


def test_chain_agency_takes_the_region_its_name_holds_from_the_documents(kb) -> None:
    c = dclaim("c1", agencies=("Harbor City Police Department",))
    rows = chain_rows([c], kb, known_regions=["Harbor", "Harbor City", "Kestrel Province"])
    assert links(rows) == {(None, "Harbor City Police Department", "Harbor City"): ("c1",)}
    assert links(chain_rows([c], kb)) == {(None, "Harbor City Police Department", None): ("c1",)}
    # the region in the agency's name comes before the claim's others, which get rows of their own
    c2 = dclaim("c2", agencies=("Harbor City Police Department",), regions=("Kestrel Province",))
    assert links(chain_rows([c2], kb, known_regions=["Harbor City"])) == {
        (None, "Harbor City Police Department", "Harbor City"): ("c2",), (None, None, "Kestrel Province"): ("c2",)}


ACME, OTHER, TOOL, KIT = "company:acme", "company:other", "product:traceline", "product:genokit"


def test_context_claims_follow_a_claim_about_the_company() -> None:
    order = {"d1": ["c1", "c2", "c3", "c4", "c5", "c6"], "d2": ["x1", "x2"]}
    entities = {"c1": {ACME}, "c2": {"region:pakistan"}, "c3": set(), "c4": {OTHER}, "c5": {"region:somalia"},
                "c6": {TOOL}, "x1": {"region:kenya"}, "x2": {OTHER, "region:kenya"}}
    assert context_claims(order, entities, {ACME, TOOL}) == ["c2"]
    assert context_claims(order, entities, {ACME, TOOL}, window=2) == ["c2", "c3"]
    # a claim naming another company ends the run; one naming only the company's product starts one
    entities["c7"] = {"agency:fbi"}
    order["d1"].append("c7")
    assert context_claims(order, entities, {ACME, TOOL}, window=3) == ["c2", "c3", "c7"]
    assert context_claims(order, entities, {OTHER}) == ["c5"]
    entities["c2"] = {KIT}  # another vendor's product ends it too
    assert context_claims(order, entities, {ACME, TOOL}, window=3) == ["c7"]


def test_implied_products_resolve_the_tool_to_the_last_named_product() -> None:
    order = {"d1": ["c1", "c2", "c3", "c4", "c5", "c6"]}
    entities = {"c1": {ACME, TOOL}, "c2": {"region:alabama"}, "c3": {"agency:fbi"}, "c4": {KIT},
                "c5": set(), "c6": set()}
    texts = {"c2": "The tool traced a phone from Alabama.", "c3": "The FBI bought licences for the program.",
             "c5": "The platform also tracks cars.", "c6": "Its software was sold to the police."}
    assert implied_products(order, entities, texts, {TOOL}) == {"c2": TOOL, "c3": TOOL}
    assert implied_products(order, entities, texts, {TOOL, KIT}) == {"c2": TOOL, "c3": TOOL, "c5": KIT,
                                                                     "c6": KIT}
    assert implied_products(order, entities, {"c2": "Police in Alabama bought phones."}, {TOOL}) == {}
    assert implied_products(order, entities, texts, {TOOL}, reach=1) == {"c2": TOOL}


CONTEXT_DOC = md_doc(
    "Filtering vendor expands", "2024-05-02", "https://example.org/filtering-vendor",
    "Norvane Networks sold its TraceLine platform to the Harbor City Police Department, procurement records show.",
    "The company also supplied the platform to border police in Kestrel Province, researchers found.",
    "Separately, Quillon Data said it would open an office in Marlow.",
    "Officials in Marlow declined to comment.")


def test_dossier_reads_the_sentence_after_a_claim_about_the_company(make_pipeline, kb, tmp_path: Path) -> None:
    from pipeline.ingest import ingest

    pipe = make_pipeline()
    (tmp_path / "vendor.md").write_text(CONTEXT_DOC, encoding="utf-8")
    assert ingest([str(tmp_path)], pipe.settings, pipeline=pipe).ok
    d = build_dossier(pipe.store, kb, "Norvane Networks")
    follow = claim_with(d, "The company also supplied the platform")
    assert follow.linked_by == "context" and follow.companies == ()
    assert claim_with(d, "Norvane Networks sold").linked_by == "name"
    assert not any("Quillon" in c.text or "declined" in c.text for c in d.claims)
    row = next(r for r in d.chain if r.region == "Kestrel Province")
    assert row.claims == (follow.claim_id,) and row.linked_by == "context"
    assert follow.implied_products == ("TraceLine",) and row.product == "TraceLine"
    j = d.to_json()
    assert {c["linked_by"] for c in j["claims"]} == {"name", "context"}
    from pipeline.dossier_render import render

    assert "follows a claim naming the company" in render(d, "md")
    assert "follows a claim naming the company" in render(d, "html")
    assert any(line.endswith(",context") for line in render(d, "csv").splitlines())


@pytest.mark.parametrize(("company", "hq"), [(THERMO, {"Waltham", "Massachusetts"}),
                                             ("Promega", {"Madison", "Wisconsin"})])
def test_dossier_chain_has_no_headquarters_as_destination(demo_store, kb, company: str, hq: set[str]) -> None:
    d = build_dossier(demo_store.pipe.store, kb, company)
    destinations = {r.region for r in d.chain if not getattr(r, "region_role", None)}
    assert not destinations & hq, destinations
    assert "Xinjiang" in destinations
    based = [c for c in d.claims if re.search(r"based in Madison|Massachusetts-based", c.text)]
    if company == "Promega" or demo_store.with_devset:
        assert based, "the demo corpus (Promega) and the dev set (both) state where the company is based"
    for c in based:
        assert not set(c.regions) & hq, (c.text, c.regions)
    if company == THERMO:
        assert "Urumqi" in destinations  # "a company based in Urumqi" locates the reseller, not Thermo Fisher
    else:  # the base is kept as a row of its own, marked as the headquarters
        [madison] = [c for c in based if "based in Madison" in c.text and c.companies == ("Promega",)][:1]
        assert "Madison" in madison.hq_regions
        assert any(r.region == "Madison" and r.region_role == "headquarters" and madison.claim_id in r.claims
                   and r.product is None and r.agency is None for r in d.chain)


# ---------------------------------------------------------------------------------------------
# 6. date windows


@pytest.mark.parametrize(("since", "until", "expected"), [
    (None, None, {APPLIED_TEXT, THERMO_2022_TEXT}),
    ("2021-01-01", None, {THERMO_2022_TEXT}),
    (None, "2020-12-31", {APPLIED_TEXT}),
    ("2022-08-10", "2022-08-10", {THERMO_2022_TEXT}),  # both bounds inclusive
    ("2020-03-06", "2022-08-09", set()),
])
def test_since_until_filter_by_document_date(mini, kb, since, until, expected: set[str]) -> None:
    d = build_dossier(mini.store, kb, THERMO, since, until)
    assert {f for f in (APPLIED_TEXT, THERMO_2022_TEXT) if any(f in c.text for c in d.claims)} == expected
    assert (d.since, d.until) == (since, until)
    for c in d.claims:
        assert c.published and (since or "") <= c.published <= (until or "9999")
    assert {s.doc_id for s in d.sources} == {c.doc_id for c in d.claims}


def test_dated_window_excludes_undated_documents(mini, kb) -> None:
    assert build_dossier(mini.store, kb, "Illumina").claims
    d = build_dossier(mini.store, kb, "Illumina", since="1990-01-01")
    assert d.claims == () and d.sources == () and d.chain == ()


@pytest.mark.parametrize(("since", "until", "fragment"), [
    ("2019-02-30", None, "--since '2019-02-30' is not a date"),
    (None, "yesterday", "--until 'yesterday' is not a date"),
    ("2019/02/01", None, "--since '2019/02/01' is not a date"),
    ("2022-01-01", "2021-01-01", "--since 2022-01-01 is after --until 2021-01-01"),
])
def test_bad_dates_are_usage_errors(mini, kb, since, until, fragment: str) -> None:
    with pytest.raises(UsageError) as exc:
        build_dossier(mini.store, kb, THERMO, since, until)
    assert fragment in exc.value.one_line()


def test_cli_bad_date_is_one_line_error(mini) -> None:
    result = cli("--home", mini.settings.home, "dossier", THERMO, "--until", "2021-02-29")
    assert_one_line_error(result, 2, "--until '2021-02-29' is not a date", "YYYY-MM-DD")
    assert result.stdout == ""


@pytest.mark.parametrize("fmt", ["html", "json", "csv"])
def test_cli_empty_window_renders_with_a_note(mini, fmt: str) -> None:
    result = cli("--home", mini.settings.home, "dossier", "Promega", "--since", "2030-01-01", "--format", fmt)
    assert result.exit_code == 0, result.output
    assert result.stderr.strip() == ("note: no claims about Promega published 2030-01-01 to …; "
                                     "the dossier is empty")
    assert "Traceback" not in result.output
    if fmt == "json":
        j = json.loads(result.stdout)
        assert (j["claims"], j["chain"], j["sources"]) == ([], [], [])
        assert j["filters"] == {"since": "2030-01-01", "until": None}
    elif fmt == "csv":
        assert result.stdout.splitlines()[0].startswith("vendor,product,agency,region,")
        assert len(result.stdout.splitlines()) == 1
    else:
        assert "<h1>Promega</h1>" in result.stdout and "no dated documents" in result.stdout


# ---------------------------------------------------------------------------------------------
# 7. documents without dates


def test_undated_documents_build_a_dossier(mini, kb) -> None:
    from pipeline.dossier_render import render

    d = build_dossier(mini.store, kb, "Illumina")
    assert len(d.claims) == 2 and all(c.published is None for c in d.claims)
    assert d.date_span == (None, None)
    assert [s.published for s in d.sources] == [None]
    timeline = d.timeline()
    assert all(e.kind == "event" for e in timeline)
    assert [(e.date, e.precision) for e in timeline] == [("2018-03", "month")]
    assert (None, None, "Kenya") in links(d.chain)
    html = render(d, "html")
    assert "no dated documents" in html
    assert "2018-03" in html
    md_text = render(d, "md")
    assert "**Date span:** no dated documents" in md_text
    j = json.loads(render(d, "json"))
    assert j["date_span"] == {"first": None, "last": None}
    assert [t["kind"] for t in j["timeline"]] == ["event"]


def test_store_with_only_undated_documents(make_pipeline, kb, tmp_path: Path) -> None:
    from pipeline.dossier_render import render
    from pipeline.ingest import ingest

    pipe = make_pipeline()
    (tmp_path / "one.txt").write_text(MINI_DOCS["c-undated.txt"].replace(" bought in March 2018", ""),
                                      encoding="utf-8")
    report = ingest([str(tmp_path)], pipe.settings, pipeline=pipe)
    assert report.ok, report.to_json()
    assert pipe.store.conn.execute("SELECT COUNT(*) FROM documents WHERE published IS NOT NULL").fetchone()[0] == 0
    d = build_dossier(pipe.store, kb, "illumina")
    assert d.claims and d.timeline() == []
    html = render(d, "html")
    assert "no dated documents" in html and "No claim is dated" in html
    assert "No claim is dated." in render(d, "md")


# ---------------------------------------------------------------------------------------------
# 11. the command: output files and formats


def test_cli_out_html_by_suffix_and_no_leftovers(mini, tmp_path: Path) -> None:
    out = tmp_path / "thermo.HTML"
    result = cli("--home", mini.settings.home, "dossier", "thermo", "fisher", "--out", out)
    assert result.exit_code == 0, result.output
    assert result.stdout == ""
    assert result.stderr.startswith(f"wrote {out} (html, 2 claims, 2 sources)")
    text = out.read_text(encoding="utf-8")
    assert text.startswith("<!doctype html>") and "<h1>Thermo Fisher Scientific</h1>" in text
    assert sorted(p.name for p in tmp_path.iterdir()) == ["thermo.HTML"]


@pytest.mark.parametrize(("suffix", "check"), [
    (".json", lambda s: json.loads(s)["company"] == "Promega"),
    (".csv", lambda s: s.startswith("vendor,product,agency,region,")),
    (".txt", lambda s: s.startswith("# Dossier: Promega")),  # unknown suffix: Markdown
])
def test_cli_out_format_from_suffix(mini, tmp_path: Path, suffix: str, check) -> None:
    out = tmp_path / f"promega{suffix}"
    result = cli("--home", mini.settings.home, "dossier", "Promega", "--out", out)
    assert result.exit_code == 0, result.output
    assert check(out.read_text(encoding="utf-8"))


def test_cli_format_overrides_suffix(mini, tmp_path: Path) -> None:
    out = tmp_path / "promega.html"
    result = cli("--home", mini.settings.home, "dossier", "Promega", "--format", "json", "--out", out)
    assert result.exit_code == 0, result.output
    assert json.loads(out.read_text(encoding="utf-8"))["company"] == "Promega"


def test_cli_csv_prints_the_chain(mini) -> None:
    import csv
    import io

    result = cli("--home", mini.settings.home, "dossier", "Promega", "--format", "csv")
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert result.stdout.splitlines()[0].startswith("vendor,product,agency,region,")
    assert {"claims", "claim_ids", "example_claim"} <= set(rows[0])
    assert all(r["vendor"] == "Promega" for r in rows)
    assert any(r["product"] == "PowerPlex 21 System" and r["region"] == "Tibet" for r in rows)
    for r in rows:
        assert int(r["claims"]) == len(r["claim_ids"].split())


def test_cli_default_is_markdown_on_stdout(mini) -> None:
    result = cli("--home", mini.settings.home, "dossier", "Applied", "Biosystems")
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("# Dossier: Applied Biosystems")
    assert "**Parent:** Thermo Fisher Scientific" in result.stdout


@pytest.mark.parametrize("where", ["missing-dir", "under-a-file"])
def test_cli_out_unwritable_is_one_line_error(mini, tmp_path: Path, where: str) -> None:
    if where == "missing-dir":
        out = tmp_path / "no" / "such" / "dir" / "d.html"
    else:
        (tmp_path / "plain.txt").write_text("x", encoding="utf-8")
        out = tmp_path / "plain.txt" / "d.html"
    result = cli("--home", mini.settings.home, "dossier", "Promega", "--out", out)
    assert_one_line_error(result, 2, f"cannot write {out}")
    assert result.stdout == ""
    assert not out.exists()
    leftovers = [p for p in tmp_path.rglob("*") if p.name != "plain.txt"]
    assert leftovers == []


@pytest.mark.parametrize(("name", "fragments"), [
    ("PowerPlex 21", ["'PowerPlex 21' is a product of Promega, not a company", "try: dualuse dossier 'Promega'"]),
    ("Thermo Fishr", ["no company named 'Thermo Fishr'", "closest known companies:", THERMO]),
])
def test_cli_name_errors_are_one_line(mini, name: str, fragments: list[str]) -> None:
    result = cli("--home", mini.settings.home, "dossier", name)
    assert_one_line_error(result, 2, *fragments)
    assert result.stdout == ""


def test_cli_requires_a_name(mini) -> None:
    result = cli("--home", mini.settings.home, "dossier")
    assert result.exit_code == 2
    assert "Missing argument" in result.output
