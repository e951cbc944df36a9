"""What every training loop shares: resume from last.pt, log metrics, keep best.pt, stop early, write atomically.

A run directory holds config.yaml, metrics.jsonl, last.pt (model, optimiser, step, selection state, wall time) and
best.pt (model, config, metrics of the best evaluation). The frame and sequence loops drive a `RunState`.
"""

from __future__ import annotations

import dataclasses
import json
import math
import time
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from .config import TrainConfig


@dataclass
class RunState:
    run: Path
    cfg: TrainConfig
    step: int = 0
    best: float = math.inf  # selection score of best.pt, lower is better
    stale: int = 0  # evaluations since best.pt last improved
    elapsed: float = 0.0  # wall seconds of earlier sessions
    started: float = field(default_factory=time.time)

    @classmethod
    def open(cls, cfg: TrainConfig, model, opt) -> RunState:
        """Create the run directory (writing config.yaml) and resume model and optimiser from last.pt if present."""
        import torch

        run = Path(cfg.out)
        run.mkdir(parents=True, exist_ok=True)
        (run / "config.yaml").write_text(yaml.safe_dump(dataclasses.asdict(cfg), sort_keys=False))
        state = cls(run, cfg)
        last = run / "last.pt"
        if last.is_file():
            ck = torch.load(last, map_location="cpu", weights_only=False)
            model.load_state_dict(ck["model"])
            opt.load_state_dict(ck["opt"])
            state.step, state.best, state.stale = ck["step"], ck["best"], ck["stale"]
            state.elapsed = ck.get("elapsed", 0.0)
        return state

    @property
    def wall_s(self) -> float:
        return self.elapsed + time.time() - self.started

    @property
    def running(self) -> bool:
        return self.step < self.cfg.max_steps and self.stale < self.cfg.patience

    def due(self) -> bool:
        """Evaluate after this step?"""
        return self.step % self.cfg.eval_every == 0 or self.step == self.cfg.max_steps

    def evaluated(self, model, opt, metrics: dict, score: float) -> bool:
        """Record an evaluation: append the metrics, keep best.pt when `score` improves, checkpoint last.pt.
        Returns whether this evaluation is the new best."""
        import torch

        with (self.run / "metrics.jsonl").open("a") as f:
            f.write(json.dumps(metrics) + "\n")
        improved = score < self.best
        if improved:
            self.best, self.stale = score, 0
            _save(
                torch,
                {"model": model.state_dict(), "cfg": dataclasses.asdict(self.cfg), "metrics": metrics},
                self.run / "best.pt",
            )
        else:
            self.stale += 1
        _save(
            torch,
            dict(
                model=model.state_dict(),
                opt=opt.state_dict(),
                step=self.step,
                best=self.best,
                stale=self.stale,
                elapsed=self.wall_s,
            ),
            self.run / "last.pt",
        )
        return improved


def _save(torch, obj: dict, path: Path) -> None:
    """Write then rename: a run stopped mid-save keeps its previous checkpoint."""
    tmp = path.with_suffix(".tmp")
    torch.save(obj, tmp)
    tmp.replace(path)


def load_run(run: Path):
    """(model in eval mode, TrainConfig, metrics) of a run's best.pt."""
    import torch

    from ..models import create_model

    ck = torch.load(Path(run) / "best.pt", map_location="cpu", weights_only=False)
    cfg = TrainConfig(**ck["cfg"])
    model = create_model(cfg.model, pretrained=False)
    model.load_state_dict(ck["model"])
    return model.eval(), cfg, ck.get("metrics", {})
