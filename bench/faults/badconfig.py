"""The bad-configuration corpus through the real `record` command: mutated protocol files
($INFUSION_CONSOLE_PROTOCOL) and mutated site files ($INFUSION_CONSOLE_SITE). Each mutation changes one
thing: a key deleted, a value made the wrong type, negative, huge, null, a string, the JSON
cut short, the file empty or a directory. A finding is a traceback, a hang, an undocumented
exit code, a refusal without a message naming the file, or a broken JSON file accepted.

    nice -n 19 .venv/bin/python bench/faults/badconfig.py --variants 300
    .venv/bin/python bench/faults/badconfig.py --quick     # 12 variants per file kind
"""

from __future__ import annotations

import argparse
import copy
import json
import random
import sys
import tempfile
from collections import Counter
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from _common import ROOT, figures, run, traceback_in  # noqa: E402

PROTOCOL = ROOT / "resources" / "clinical_protocol.json"
SITE = {"nurse_call": None, "require_users": False, "users": [], "chair": "Chair 1"}
BAD_VALUES = [None, -1, 0, 1e308, "abc", [], {}, True, -999999, 3.5]


def leaves(node, path=()):
    if isinstance(node, dict):
        for k, v in node.items():
            yield from leaves(v, (*path, k))
    elif isinstance(node, list) and node:
        for i, v in enumerate(node):
            yield from leaves(v, (*path, i))
    else:
        yield path


def mutate(doc, rng: random.Random) -> tuple[str, bytes]:
    kind = rng.choice(["delete", "value", "value", "value", "cut", "empty", "not json"])
    if kind == "cut":
        text = json.dumps(doc)
        return "JSON cut short", text[: rng.randrange(1, len(text))].encode()
    if kind == "empty":
        return "empty file", b""
    if kind == "not json":
        return "not JSON", b"\xff\xfe garbage"
    doc = copy.deepcopy(doc)
    paths = list(leaves(doc))
    if not paths:
        return "value", json.dumps(doc).encode()
    path = rng.choice(paths)
    node = doc
    for k in path[:-1]:
        node = node[k]
    if kind == "delete" and isinstance(node, dict):
        del node[path[-1]]
        return f"deleted {'.'.join(map(str, path))}", json.dumps(doc).encode()
    node[path[-1]] = rng.choice(BAD_VALUES)
    return f"{'.'.join(map(str, path))}={node[path[-1]]!r}", json.dumps(doc).encode()


def campaign(kind: str, variants: int, rng: random.Random, tmp: Path) -> dict:
    base = json.loads(PROTOCOL.read_text()) if kind == "protocol" else SITE
    env_name = "INFUSION_CONSOLE_PROTOCOL" if kind == "protocol" else "INFUSION_CONSOLE_SITE"
    outcomes: Counter = Counter()
    findings = []
    accepted = []
    for n in range(variants):
        what, content = mutate(base, rng)
        path = tmp / f"{kind}-{n}.json"
        path.write_bytes(content)
        r = run(["record", "--simulate", "normal", "--speed", "60", "--duration", "1",
                 "--out", str(tmp / f"{kind}-{n}.sqlite")], timeout=60, env_extra={env_name: str(path)})
        outcomes[r.returncode] += 1
        if r.returncode == 0:
            accepted.append(what)
        broken_json = what in ("JSON cut short", "empty file", "not JSON")
        if (traceback_in(r.stderr) or r.returncode not in (0, 2)
                or (r.returncode == 2 and path.name not in r.stderr and "record:" not in r.stderr)
                or (broken_json and r.returncode == 0)):
            findings.append(f"{kind} {what}: exit {r.returncode}: {r.stderr.strip()[-300:]}")
    return {"variants": variants, "exit codes": dict(sorted(outcomes.items())),
            "findings": len(findings), "finding list": findings[:10],
            "accepted mutations (exit 0: review that each is harmless)": accepted[:20]}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--variants", type=int, default=300, help="per file kind")
    p.add_argument("--quick", action="store_true")
    p.add_argument("--seed", type=int, default=1)
    args = p.parse_args(argv)
    rng = random.Random(args.seed)
    bad = 0
    with tempfile.TemporaryDirectory() as tmp:
        for kind in ("protocol", "site"):
            result = campaign(kind, 12 if args.quick else args.variants, rng, Path(tmp))
            figures(f"bad {kind} files through `record`", result)
            bad += result["findings"]
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
