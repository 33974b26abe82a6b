#!/usr/bin/env python3
"""Holds doc/config.md against the schema rows of geosteer.json.

usage: check_doc.py [--self-test] SCHEMA_TOOL CONFIG_MD

SCHEMA_TOOL is test/tools/gs_config_schema (it prints the rows of
backend/steering/config_schema.c, one per line). CONFIG_MD's tables under
"## settings", "## monitors", "## endpoints", "## pools" and "## policies"
(columns key, type, default, range[, for types], meaning) must agree with
the rows, both ways:
  - every key of the schema has a row in the doc and every doc row a key;
  - a default in the schema is the default the doc gives (the first number
    of the cell, or its first word for strings; element rows such as
    hash_prefix[1] the n-th number); a key the schema requires says
    "required" (for its types), and no other key does;
  - a range min..max is the doc's (first "A..B" of the range cell, or the
    n-th for element rows); "> MIN" for lower bounds only; the unit word;
  - the values of an enumeration are exactly the backquoted words of the
    range cell;
  - a key valid only for some types says so: "for types" column of the
    policies table, "`http`/`https` only" in the monitors table.
Exits 1 with one line per disagreement, naming the key and both values.
--self-test changes one default, one range, one enumeration value and one
key of the doc in memory and expects each to be reported.
"""
import re
import subprocess
import sys

SECTIONS = {"settings": "settings.", "monitors": "monitors.*.", "endpoints": "endpoints.*.",
            "pools": "pools.*.", "policies": "policies.*."}
NUM = r"-?\d+(?:\.\d+)?"


def load_schema(tool):
    out = subprocess.run([tool], check=True, capture_output=True, text=True).stdout
    rows = []
    for line in out.splitlines():
        f = line.split("\t")
        if len(f) != 9:
            raise SystemExit(f"check_doc: bad schema line: {line!r}")
        keys = ("path", "kind", "types", "required", "default", "min", "max", "unit", "names")
        rows.append(dict(zip(keys, f)))
    return rows


def norm(cell):
    """A cell without markup: backquotes and double quotes gone, true minus signs."""
    return cell.replace("`", "").replace('"', "").replace("\u2212", "-").strip()


def parse_doc(text):
    """{path: {column: cell}} of the five section tables, keyed by schema path."""
    doc, section, header = {}, None, None
    for line in text.splitlines():
        m = re.match(r"^(#+)\s+(\S+)", line)
        if m:
            section = m.group(2) if len(m.group(1)) == 2 and m.group(2) in SECTIONS else None
            header = None
            continue
        if section is None or not line.startswith("|"):
            header = None if not line.startswith("|") else header
            continue
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if header is None:
            header = cells
            continue
        if set(cells[0]) <= set("-: "):
            continue
        row = dict(zip(header, cells))
        key = norm(row.get("key", ""))
        doc[SECTIONS[section] + key] = row
    return doc


def nums(cell):
    return [float(n) for n in re.findall(NUM, norm(cell))]


def first_word(cell):
    w = norm(cell).split()
    return w[0].strip("[]{},;()") if w else ""


def doc_key_of(path):
    """The doc row of a schema path, and the element index (None for a key)."""
    m = re.match(r"^(.*)\[(\d+)\]$", path)
    if m:
        return m.group(1), int(m.group(2))
    if path.endswith(".*") and path.count("*") > 1:
        return path[:-2], 0
    return path, None


def check(rows, doc):
    errs = []
    keys = {doc_key_of(r["path"])[0] for r in rows}
    for path in doc:
        if path not in keys:
            errs.append(f"{path}: in doc/config.md but not in the schema")
    for r in rows:
        path = r["path"]
        key, elem = doc_key_of(path)
        d = doc.get(key)
        if d is None:
            errs.append(f"{path}: in the schema but not in doc/config.md")
            continue
        where = f"{path}: doc/config.md"
        dcell, rcell = d.get("default", ""), d.get("range", "")
        # defaults
        if r["default"] != "-":
            parts = r["default"].split(",")
            if r["kind"] in ("int", "number", "mode"):
                got = nums(dcell)
                want = [float(parts[0])] + [float(p.split("=")[1]) for p in parts[1:]]
                have = got[elem:elem + 1] if elem is not None else got[:len(want)]
                if elem is not None:
                    want = want[:1]
                if have != want:
                    errs.append(f"{where} default is {norm(dcell)!r}, the schema's {r['default']}")
                for p in parts[1:]:
                    if p.split("=")[0] not in norm(dcell):
                        errs.append(f"{where} default does not name type {p.split('=')[0]}")
            elif first_word(dcell) != parts[0]:
                errs.append(f"{where} default is {norm(dcell)!r}, the schema's {r['default']}")
        if elem is None:
            says = "required" in norm(dcell)
            if r["required"] == "-" and says:
                errs.append(f"{where} says required, the schema does not")
            elif r["required"] != "-" and not says:
                errs.append(f"{where} default is {norm(dcell)!r}, the schema requires the key")
            elif r["required"] not in ("-", "always") and r["required"] != r["types"]:
                for t in r["required"].split(","):
                    if not re.search(r"required for [^|]*\b" + re.escape(t) + r"\b", norm(dcell)):
                        errs.append(f"{where} does not say required for {t}")
        # ranges
        if r["min"].startswith(">"):
            if not re.search(r">\s*" + re.escape(r["min"][1:]) + r"\b", norm(rcell)):
                errs.append(f"{where} range is {norm(rcell)!r}, the schema's {r['min']}")
        elif r["min"] != "-":
            pairs = [(float(a), float(b)) for a, b in re.findall(f"({NUM})\\.\\.({NUM})", norm(rcell))]
            i = elem or 0
            want = (float(r["min"]), float(r["max"]))
            if len(pairs) <= i or pairs[i] != want:
                errs.append(f"{where} range is {norm(rcell)!r}, the schema's {r['min']}..{r['max']}")
        if r["unit"] != "-" and not re.search(r"\b" + r["unit"] + r"\b", norm(rcell)):
            errs.append(f"{where} range {norm(rcell)!r} does not say {r['unit']}")
        if r["names"] != "-" and elem is None:
            words = set(re.findall(r"`([^`]+)`", rcell))
            if words != set(r["names"].split(",")):
                errs.append(f"{where} values are {sorted(words)}, the schema's {r['names']}")
        # types a key is valid for
        if elem is None and "for types" in d:
            words = set(re.findall(r"`([^`]+)`", d["for types"])) or {norm(d["for types"])}
            want = {"all"} if r["types"] == "*" else set(r["types"].split(","))
            if words != want:
                errs.append(f"{where} is for types {sorted(words)}, the schema's {r['types']}")
        elif elem is None and key.startswith("monitors."):
            m = re.search(r"((?:`[a-z]+`/?)+) only", rcell)
            words = set(re.findall(r"`([a-z]+)`", m.group(1))) if m else {"*"}
            want = {"*"} if r["types"] == "*" else set(r["types"].split(","))
            if words != want:
                errs.append(f"{where} is for types {sorted(words)}, the schema's {r['types']}")
    return errs


def self_test(rows, text):
    """Each change of the doc must be reported; the doc itself must pass."""
    if check(rows, parse_doc(text)):
        return ["the unchanged doc does not pass"]
    changes = [
        ("| `max_connections` | integer | 256 |", "| `max_connections` | integer | 255 |"),
        ("| `rise` | integer | 3 | 1..10 |", "| `rise` | integer | 3 | 1..11 |"),
        ("`ignore-health` `last-known`", "`ignore-health` `last-know`"),
        ("| `nearest` |", "| `closest` |"),
        ("| `ttl` | integer | 30 | 0..86400 seconds |", "| `ttl` | integer | 30 | 0..86400 |"),
    ]
    errs = []
    for old, new in changes:
        if text.count(old) != 1:
            errs.append(f"self-test: {old!r} is not once in the doc")
        elif not check(rows, parse_doc(text.replace(old, new))):
            errs.append(f"self-test: changing {old!r} to {new!r} went unnoticed")
    return errs


def main(argv):
    st = argv[1:2] == ["--self-test"]
    args = argv[2:] if st else argv[1:]
    if len(args) != 2:
        raise SystemExit(__doc__)
    rows = load_schema(args[0])
    with open(args[1], encoding="utf-8") as f:
        text = f.read()
    errs = self_test(rows, text) if st else check(rows, parse_doc(text))
    for e in errs:
        print(e)
    if errs:
        return 1
    print(f"ok: {len(rows)} schema rows agree with {args[1]}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
