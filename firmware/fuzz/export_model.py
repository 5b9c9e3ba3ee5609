"""Export the fuzz targets' model: a shipped model's C sources, with a detector that fires often.

`make -C firmware fuzz` runs `python firmware/fuzz/export_model.py MODEL.npz OUT_DIR` (OUT_DIR gets
kws_model.h / kws_model.c; unchanged files are left alone, so nothing rebuilds). The shipped weights keep the
network's numbers realistic; the detector's threshold is lowered and its refractory shortened so that a few
seconds of fuzzed audio reach detections, the refractory hops and the limit of the caller's detection buffer.
"""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path

from tinykws.config import CONFIG
from tinykws.deploy import c_export
from tinykws.train.int_model import IntModel

# A keyword fires when it has been the best class by this many logit steps on average over the smoothing
# window: 0 fires on anything a keyword wins, which the engine target's noise does now and then.
FUZZ_THRESHOLD = 0
FUZZ_REFRACTORY_HOPS = 3


def export(model_path: Path, out_dir: Path) -> list[Path]:
    """Write the fuzz model's C sources into out_dir."""
    dc = dataclasses.replace(CONFIG.detector, threshold=FUZZ_THRESHOLD, refractory_hops=FUZZ_REFRACTORY_HOPS)
    return c_export.write_c_sources(IntModel.load(model_path), out_dir, source=f"{model_path} (fuzz detector)", dc=dc)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("model", type=Path, help="int8 model .npz (e.g. models/kws12/model.npz)")
    ap.add_argument("out_dir", type=Path, help="where kws_model.h / kws_model.c go")
    args = ap.parse_args(argv)
    export(args.model, args.out_dir)


if __name__ == "__main__":
    main()
