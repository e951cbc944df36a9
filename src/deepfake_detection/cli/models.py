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
    from ..models.card import ModelCard
    from ..models.serving import DEFAULT_MODEL, shipped_models, weights_dir

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
    for name in sorted(shipped - {r["name"] for r in rows}):  # weights under their own name: the card says what
        card = ModelCard.load(weights_dir() / f"{name}.json")
        rows.append(
            {
                "name": name,
                "family": "+".join(card.components) if card.kind == "fusion" else card.extra.get("family", ""),
                "kind": card.kind,
                "input_size": card.input_size or None,
                "pretrained": card.extra.get("pretrained", ""),
                "shipped_weights": True,
                "default": name == DEFAULT_MODEL,
            }
        )
    if args.json:
        print(json.dumps(rows, indent=None))
        return 0
    width = max(14, *(len(str(r["family"])) for r in rows))
    name_width = max(24, *(len(str(r["name"])) for r in rows))
    print(f"{'name':{name_width}s} {'family':{width}s} {'kind':9s} {'size':>4s}  shipped")
    for r in rows:
        mark = "yes (default)" if r["default"] and r["shipped_weights"] else ("yes" if r["shipped_weights"] else "no")
        print(f"{r['name']:{name_width}s} {r['family']:{width}s} {r['kind']:9s} {r['input_size'] or '':>4}  {mark}")
    return 0
