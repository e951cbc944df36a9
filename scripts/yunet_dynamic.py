"""Make the published YuNet ONNX file accept any input size in ONNX Runtime.

`face_detection_yunet_2023mar.onnx` (see `src/deepfake_detection/yunet/NOTICE.md`) declares a fixed 1x3x640x640
input, yet every operator in it is size-agnostic: convolutions and poolings, nearest-neighbour resizes by a scale
of 2, and reshapes to (1, -1, C). Only the declared shapes pin the size, and ONNX Runtime refuses any other input.
This rewrites the declarations and nothing else: input height and width become symbolic, the output anchor counts
too, and the stored intermediate shapes are dropped (ONNX Runtime infers them). Nodes and weights are untouched;
the script checks that and that the result gives the same outputs as the original on a 640x640 input.

    python scripts/yunet_dynamic.py face_detection_yunet_2023mar.onnx \
        src/deepfake_detection/yunet/face_detection_yunet_2023mar_dynamic.onnx

Needs the `onnx` package (the `train` extra). The output is deterministic: rerunning it on the file with the
sha256 given in the NOTICE reproduces the shipped file byte for byte.
"""

from __future__ import annotations

import argparse
import hashlib
from pathlib import Path

import numpy as np


def make_dynamic(model):
    import onnx

    out = onnx.ModelProto()
    out.CopyFrom(model)
    graph = out.graph
    (inp,) = graph.input
    dims = inp.type.tensor_type.shape.dim
    for d, name in zip(dims[2:], ("height", "width")):
        d.Clear()
        d.dim_param = name
    for o in graph.output:
        d = o.type.tensor_type.shape.dim[1]
        d.Clear()
        d.dim_param = f"anchors_{o.name.split('_')[-1]}"  # cls_8, bbox_8, ... share one count per stride
    del graph.value_info[:]
    onnx.checker.check_model(out)
    return out


def _same_graph(a, b) -> None:
    assert [n.SerializeToString() for n in a.graph.node] == [n.SerializeToString() for n in b.graph.node]
    assert [t.SerializeToString() for t in a.graph.initializer] == [t.SerializeToString() for t in b.graph.initializer]


def _same_outputs(a: bytes, b: bytes) -> None:
    import onnxruntime as ort

    x = np.random.default_rng(0).uniform(0, 255, (1, 3, 640, 640)).astype(np.float32)
    ra = ort.InferenceSession(a, providers=["CPUExecutionProvider"]).run(None, {"input": x})
    rb = ort.InferenceSession(b, providers=["CPUExecutionProvider"]).run(None, {"input": x})
    for ya, yb in zip(ra, rb):
        np.testing.assert_array_equal(ya, yb)
    small = x[:, :, :96, :160]
    shapes = [y.shape for y in ort.InferenceSession(b, providers=["CPUExecutionProvider"]).run(None, {"input": small})]
    assert shapes[0] == (1, 12 * 20, 1), shapes  # 96x160 at stride 8


def main() -> None:
    import onnx

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("src", type=Path)
    ap.add_argument("dst", type=Path)
    args = ap.parse_args()
    raw = args.src.read_bytes()
    model = onnx.load_from_string(raw)
    dyn = make_dynamic(model)
    _same_graph(model, dyn)
    data = dyn.SerializeToString()
    _same_outputs(raw, data)
    args.dst.write_bytes(data)
    for p, b in ((args.src, raw), (args.dst, data)):
        print(f"{hashlib.sha256(b).hexdigest()}  {len(b):7d}  {p}")


if __name__ == "__main__":
    main()
