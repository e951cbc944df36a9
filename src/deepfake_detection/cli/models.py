"""`deepfake-detect models`: registered architectures and the weights that ship."""

from __future__ import annotations

import argparse
import json

from . import _options as opt


def register(sub) -> None:
    s = sub.add_parser("models", help="list registered models and which ones ship trained weights")
    opt.add_json(s, "machine-readable list")
    s.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..models import list_models, model_cfg
    from ..models.serving import DEFAULT_MODEL, shipped_models

    shipped = set(shipped_models())
    rows = []
    for name in list_models():
        c = model_cfg(name)
        rows.append(
            {
                "name": name,
                "family": c.family,
                "kind": c.kind,
                "input_size": c.input_size,
                "pretrained": c.pretrained,
                "shipped_weights": name in shipped,
                "default": name == DEFAULT_MODEL,
            }
        )
    for name in sorted(shipped - {r["name"] for r in rows}):
        rows.append(
            {
                "name": name,
                "family": "",
                "kind": "frame",
                "input_size": None,
                "pretrained": "",
                "shipped_weights": True,
                "default": name == DEFAULT_MODEL,
            }
        )
    if args.json:
        print(json.dumps(rows, indent=None))
        return 0
    print(f"{'name':24s} {'family':14s} {'kind':9s} {'size':>4s}  shipped")
    for r in rows:
        mark = "yes (default)" if r["default"] and r["shipped_weights"] else ("yes" if r["shipped_weights"] else "no")
        print(f"{r['name']:24s} {r['family']:14s} {r['kind']:9s} {r['input_size'] or '':>4}  {mark}")
    return 0
