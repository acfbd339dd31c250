#!/usr/bin/env python3
"""Validate the dualuse knowledge base.

Loads every ``*.yaml`` in this folder (or the folder given with ``--kb-dir``), then
every file listed in the environment variable ``DUALUSE_KB_EXTRA``
(``os.pathsep``-separated), then any files given on the command line.  Entries of
the same type with the same canonical name are merged the way the pipeline merges
them (aliases and products are unioned; other fields from a later file replace
earlier ones when they are not null).  It then checks:

* every file parses and has a known ``type``;
* required fields exist, no unknown fields, values have the right shape;
* sectors / categories / kinds come from the allowed sets;
* referenced parents, vendors, products, countries and HQ places exist;
* a demonym names one region only;
* no surface form (canonical name or alias) is used by two entries of one type,
  comparing case-insensitively after Unicode and quote normalisation;
* no parent cycles; non-entity terms are unique and are not entity surface forms;
* strings use ASCII apostrophes/quotes (no curly quotes).

Exit status 0 when valid, 1 otherwise.  Needs only the standard library and PyYAML.

    python models/kb/validate_kb.py                # the shipped KB (+ DUALUSE_KB_EXTRA)
    python models/kb/validate_kb.py my_kb.yaml     # also check a user file against it
"""

from __future__ import annotations

import argparse
import glob
import os
import sys
import unicodedata
from collections import Counter, defaultdict

import yaml

SECTORS = {
    "surveillance",
    "spyware",
    "forensics",
    "biometrics",
    "telecom",
    "censorship",
    "chips",
    "biotech",
    "cloud",
    "defence",
    "data-broker",
    "other",
}
PRODUCT_CATEGORIES = {
    "spyware",
    "exploit",
    "phone forensics",
    "computer forensics",
    "phone monitoring app",
    "DNA analysis kit",
    "genetic analyzer",
    "sequencer",
    "rapid DNA",
    "DNA extraction",
    "DNA phenotyping",
    "DNA database",
    "facial recognition",
    "biometric system",
    "camera",
    "video management",
    "data analytics",
    "gunshot detection",
    "social media monitoring",
    "location data",
    "DPI",
    "censorship",
    "lawful intercept",
    "IMSI catcher",
    "platform",
    "chip",
    "cloud",
    "operating system",
    "device",
    "messaging app",
    "social network",
    "other",
}
AGENCY_KINDS = {
    "police",
    "ministry",
    "intelligence",
    "military",
    "legislature",
    "regulator",
    "intergovernmental",
    "paramilitary",
    "court",
    "other",
}
REGION_KINDS = {
    "country",
    "province",
    "state",
    "city",
    "county",
    "territory",
    "supranational region",
}
ORG_KINDS = {"ngo", "media", "academic", "publisher", "political", "other"}

# field -> required?  ("products"/"parent" are optional where marked False)
SCHEMAS: dict[str, dict[str, bool]] = {
    "company": {
        "name": True,
        "aliases": True,
        "country": True,
        "parent": True,
        "sector": True,
        "hq": False,
        "products": False,
        "source": True,
    },
    "product": {
        "name": True,
        "aliases": True,
        "vendor": True,
        "category": True,
        "source": True,
    },
    "agency": {
        "name": True,
        "aliases": True,
        "country": True,
        "parent": True,
        "kind": True,
        "source": True,
    },
    "region": {
        "name": True,
        "aliases": True,
        "kind": True,
        "country": False,
        "demonyms": False,
        "source": True,
    },
    "other_org": {
        "name": True,
        "aliases": True,
        "kind": True,
        "parent": False,
        "country": False,
        "source": True,
    },
}
ENUMS = {
    ("company", "sector"): SECTORS,
    ("product", "category"): PRODUCT_CATEGORIES,
    ("agency", "kind"): AGENCY_KINDS,
    ("region", "kind"): REGION_KINDS,
    ("other_org", "kind"): ORG_KINDS,
}
LIST_FIELDS = {"aliases", "products", "hq", "demonyms"}
NULLABLE = {"country", "parent", "vendor"}
CURLY = "\u2018\u2019\u201a\u201b\u201c\u201d\u201e\u201f\u2032\u2033"
SUBNATIONAL = {
    "province",
    "state",
    "county",
}  # cities may have a null country only when sovereignty is disputed


def norm(s: str) -> str:
    """Key used to detect duplicate surface forms."""
    s = unicodedata.normalize("NFKC", s)
    for ch in "\u2018\u2019\u201b\u2032`":
        s = s.replace(ch, "'")
    for ch in "\u201c\u201d\u201f\u2033":
        s = s.replace(ch, '"')
    return " ".join(s.split()).casefold()


class KB:
    def __init__(self) -> None:
        self.entries: dict[str, dict[str, dict]] = defaultdict(
            dict
        )  # type -> name -> entry
        self.origin: dict[tuple[str, str], list[str]] = defaultdict(list)
        self.nonentities: list[tuple[str, str]] = []  # (term, file)
        self.file_counts: list[tuple[str, str, int]] = []
        self.errors: list[str] = []

    def err(self, msg: str) -> None:
        self.errors.append(msg)

    # ------------------------------------------------------------------ loading
    def load(self, path: str) -> None:
        try:
            with open(path, encoding="utf-8") as fh:
                data = yaml.safe_load(fh)
        except (OSError, yaml.YAMLError) as exc:
            self.err(f"{path}: cannot parse: {exc}")
            return
        if not isinstance(data, dict) or "type" not in data:
            self.err(f"{path}: top level must be a mapping with a 'type' key")
            return
        typ = data["type"]
        if typ == "nonentity":
            terms = data.get("terms")
            if not isinstance(terms, list):
                self.err(f"{path}: nonentity file needs a 'terms' list")
                return
            for t in terms:
                if not isinstance(t, str) or not t.strip():
                    self.err(
                        f"{path}: non-entity term must be a non-empty string: {t!r}"
                    )
                    continue
                self._check_chars(path, t, t)
                self.nonentities.append((t, path))
            self.file_counts.append((path, typ, len(terms)))
            return
        if typ not in SCHEMAS:
            self.err(
                f"{path}: unknown type {typ!r} (allowed: {sorted(SCHEMAS) + ['nonentity']})"
            )
            return
        extra_keys = set(data) - {"type", "entries"}
        if extra_keys:
            self.err(f"{path}: unknown top-level keys {sorted(extra_keys)}")
        entries = data.get("entries")
        if not isinstance(entries, list):
            self.err(f"{path}: entity file needs an 'entries' list")
            return
        self.file_counts.append((path, typ, len(entries)))
        for i, e in enumerate(entries):
            self._load_entry(path, typ, i, e)

    def _load_entry(self, path: str, typ: str, i: int, e: object) -> None:
        where = f"{path}: {typ} entry #{i + 1}"
        if not isinstance(e, dict):
            self.err(f"{where}: must be a mapping")
            return
        name = e.get("name")
        if not isinstance(name, str) or not name.strip() or name != name.strip():
            self.err(
                f"{where}: 'name' must be a non-empty string without surrounding spaces"
            )
            return
        where = f"{path}: {typ} {name!r}"
        schema = SCHEMAS[typ]
        for field, required in schema.items():
            if required and field not in e:
                self.err(f"{where}: missing required field {field!r}")
        for field in set(e) - set(schema):
            self.err(f"{where}: unknown field {field!r}")
        for field, val in e.items():
            if field not in schema:
                continue
            if field in LIST_FIELDS:
                if not isinstance(val, list) or not all(
                    isinstance(x, str) and x.strip() for x in val
                ):
                    self.err(f"{where}: {field!r} must be a list of non-empty strings")
                    continue
                for x in val:
                    self._check_chars(where, x, x)
                    if x != x.strip():
                        self.err(f"{where}: {field} item {x!r} has surrounding spaces")
                if len({norm(x) for x in val}) != len(val):
                    self.err(f"{where}: duplicate items in {field!r}")
            elif val is None:
                if field not in NULLABLE:
                    self.err(f"{where}: {field!r} must not be null")
            elif not isinstance(val, str) or not val.strip():
                self.err(f"{where}: {field!r} must be a non-empty string")
            else:
                self._check_chars(where, val, val)
        key = {"company": "sector", "product": "category"}.get(typ, "kind")
        enum = ENUMS.get((typ, key))
        if enum is not None and key in e and e[key] not in enum:
            self.err(f"{where}: {key} {e[key]!r} not in allowed set {sorted(enum)}")
        self._check_chars(where, name, name)
        # merge
        clean = {k: v for k, v in e.items() if k in schema}
        clean.setdefault("aliases", [])
        existing = self.entries[typ].get(name)
        self.origin[(typ, name)].append(path)
        if existing is None:
            self.entries[typ][name] = clean
            return
        for k, v in clean.items():
            if k in LIST_FIELDS:
                merged = list(existing.get(k) or [])
                seen = {norm(x) for x in merged}
                for x in v or []:
                    if norm(x) not in seen:
                        merged.append(x)
                        seen.add(norm(x))
                existing[k] = merged
            elif v is not None:
                existing[k] = v

    def _check_chars(self, where: str, label: str, s: str) -> None:
        bad = [c for c in s if c in CURLY]
        if bad:
            self.err(
                f"{where}: {label!r} contains curly quotes {bad}; use ASCII ' and \""
            )

    # --------------------------------------------------------------- validation
    def validate(self) -> None:
        ents = self.entries
        regions = ents["region"]
        companies = ents["company"]
        products = ents["product"]
        agencies = ents["agency"]
        orgs = ents["other_org"]
        country_like = {
            n for n, e in regions.items() if e.get("kind") in ("country", "territory")
        }

        def ref(typ: str, name: str, field: str, target: dict, label: str) -> None:
            val = ents[typ][name].get(field)
            if val is not None and val not in target:
                self.err(
                    f"{typ} {name!r}: {field} {val!r} is not a known {label} canonical name"
                )

        for n, e in companies.items():
            ref("company", n, "country", regions, "region")
            ref("company", n, "parent", companies, "company")
            for place in e.get("hq") or []:
                if place not in regions:
                    self.err(f"company {n!r}: hq {place!r} is not a known region canonical name")
            for p in e.get("products") or []:
                if p not in products:
                    self.err(f"company {n!r}: product {p!r} is not in products")
                else:
                    vendor = products[p].get("vendor")
                    if vendor is not None and n not in self._ancestors(
                        companies, vendor
                    ):
                        self.err(
                            f"company {n!r}: lists product {p!r} whose vendor is {vendor!r}"
                        )
        for n, e in products.items():
            ref("product", n, "vendor", companies, "company")
        for n, e in agencies.items():
            ref("agency", n, "country", regions, "region")
            ref("agency", n, "parent", agencies, "agency")
        for n, e in orgs.items():
            ref("other_org", n, "country", regions, "region")
            p = e.get("parent")
            if p is not None and p not in orgs and p not in companies:
                self.err(
                    f"other_org {n!r}: parent {p!r} is neither an organisation nor a company"
                )
        demonym_of: dict[str, str] = {}
        for n, e in regions.items():
            for d in e.get("demonyms") or []:
                other = demonym_of.setdefault(norm(d), n)
                if other != n:
                    self.err(f"region {n!r}: demonym {d!r} is also a demonym of {other!r}")
        for n, e in regions.items():
            kind, c = e.get("kind"), e.get("country")
            if kind in SUBNATIONAL and c is None:
                self.err(f"region {n!r}: kind {kind!r} needs a country")
            if kind == "supranational region" and c is not None:
                self.err(f"region {n!r}: a supranational region has no country")
            if c is not None and c not in country_like:
                self.err(
                    f"region {n!r}: country {c!r} is not a region of kind country/territory"
                )
            if c == n:
                self.err(f"region {n!r}: is its own country")

        for typ, field in (
            ("company", "parent"),
            ("agency", "parent"),
            ("other_org", "parent"),
        ):
            for n in ents[typ]:
                seen = {n}
                cur = ents[typ][n].get(field)
                while cur is not None and cur in ents[typ]:
                    if cur in seen:
                        self.err(f"{typ} {n!r}: parent cycle through {cur!r}")
                        break
                    seen.add(cur)
                    cur = ents[typ][cur].get(field)

        # duplicate surface forms within a type
        all_forms: dict[str, tuple[str, str]] = {}
        for typ, table in ents.items():
            owner: dict[str, str] = {}
            for n, e in table.items():
                forms = [n] + list(e.get("aliases") or [])
                if norm(n) in {norm(a) for a in e.get("aliases") or []}:
                    self.err(f"{typ} {n!r}: alias repeats the canonical name")
                for f in forms:
                    k = norm(f)
                    if k in owner and owner[k] != n:
                        self.err(
                            f"{typ}: surface form {f!r} used by both {owner[k]!r} and {n!r}"
                        )
                    owner.setdefault(k, n)
                    all_forms.setdefault(k, (typ, n))

        counts = Counter(norm(t) for t, _ in self.nonentities)
        for t, path in self.nonentities:
            k = norm(t)
            if counts[k] > 1:
                self.err(f"{path}: non-entity term {t!r} is duplicated")
                counts[k] = 1
            if k in all_forms:
                typ, n = all_forms[k]
                self.err(
                    f"{path}: non-entity term {t!r} is also a surface form of {typ} {n!r}"
                )

    @staticmethod
    def _ancestors(companies: dict, name: str) -> list[str]:
        out, cur = [], name
        while cur is not None and cur not in out:
            out.append(cur)
            cur = companies.get(cur, {}).get("parent")
        return out


def kb_files(kb_dir: str, extra: list[str]) -> list[str]:
    files = sorted(glob.glob(os.path.join(kb_dir, "*.yaml")))
    env = os.environ.get("DUALUSE_KB_EXTRA", "")
    files += [p for p in env.split(os.pathsep) if p.strip()]
    files += extra
    return files


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument(
        "files", nargs="*", help="additional KB files to load after the built-in ones"
    )
    ap.add_argument(
        "--kb-dir",
        default=os.path.dirname(os.path.abspath(__file__)),
        help="folder whose *.yaml files are loaded (default: this script's folder)",
    )
    ap.add_argument("-q", "--quiet", action="store_true", help="print errors only")
    args = ap.parse_args(argv)

    kb = KB()
    for path in kb_files(args.kb_dir, args.files):
        kb.load(path)
    kb.validate()

    if not args.quiet:
        for path, typ, n in kb.file_counts:
            print(
                f"{os.path.relpath(path)}: {typ}, {n} {'terms' if typ == 'nonentity' else 'entries'}"
            )
        merged = {t: len(v) for t, v in sorted(kb.entries.items())}
        print(
            f"merged entities per type: {merged}; non-entity terms: {len(kb.nonentities)}"
        )
    for msg in kb.errors:
        print(f"ERROR: {msg}", file=sys.stderr)
    if kb.errors:
        print(f"{len(kb.errors)} error(s)", file=sys.stderr)
        return 1
    if not args.quiet:
        print("OK")
    return 0


if __name__ == "__main__":
    sys.exit(main())
