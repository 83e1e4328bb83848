"""A tiny insightface `buffalo_l` pack: ONNX models in the real formats, small enough to build in milliseconds.

`build_tiny_buffalo(dest)` writes `dest/insightface/models/buffalo_l/det_10g.onnx` (a detector with SCRFD's
nine-output layout: scores, box distances and keypoint distances for strides 8, 16 and 32, two anchors per
cell) and `w600k_r50.onnx` (a recognition net, 112 x 112 in, 512 out). insightface's own ModelRouter and
FaceAnalysis load them unchanged.

The detector is deterministic and controllable rather than learned. It sees a face wherever the picture has
"face marker" pixels, the colour `MARKER_RGB` (RGB 255, 0, 128; RGB order matters, so a BGR/RGB mix-up finds
nothing). For every anchor lying on a marker pixel it scores 0.92 (elsewhere 0.02) and regresses the bounding
box of the marker pixels within a 129-pixel window around it (in the detector's 192 x 192 input), with five
keypoints at the ArcFace template positions inside that box, so `norm_crop` maps the box onto the aligned crop.
A marker square is found exactly when its side is at most a third of the photo's longer side, and two marker
squares are told apart when more than a third of the longer side separates them.

`face_image(...)` draws a person whose face is such a square; `no_face_image(...)` the same person with a
skin-coloured face, in which the tiny detector finds nothing.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

MARKER_RGB = (255, 0, 128)
SKIN_RGB = (224, 172, 140)
DET_SIZE = 192  # the detector's fixed input size (insightface letterboxes every photo into it)
WINDOW = 129  # pixels, in detector space: the neighbourhood each anchor measures the face in
STRIDES = (8, 16, 32)
NUM_ANCHORS = 2
DETECTOR_FILE = "det_10g.onnx"
RECOGNITION_FILE = "w600k_r50.onnx"
# The ArcFace alignment template (112 x 112 crop): eyes, nose tip, mouth corners.
ARCFACE_TEMPLATE = np.array(
    [[38.2946, 51.6963], [73.5318, 51.5014], [56.0252, 71.7366], [41.5493, 92.3655], [70.7299, 92.2041]],
    dtype=np.float32,
)
OPSET = 17


def build_tiny_buffalo(dest: Path, seed: int = 0) -> Path:
    """Write the tiny pack into `dest/insightface/models/buffalo_l/`; return the `insightface` folder."""
    root = Path(dest) / "insightface"
    pack = root / "models" / "buffalo_l"
    pack.mkdir(parents=True, exist_ok=True)
    _save(_detector_model(), pack / DETECTOR_FILE)
    _save(_recognition_model(seed), pack / RECOGNITION_FILE)
    return root


def _save(model, path: Path) -> None:
    import onnx

    onnx.checker.check_model(model)
    onnx.save(model, str(path))


def _detector_model():
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    size = DET_SIZE
    half = WINDOW // 2
    big = float(size)
    nodes = []
    inits = []

    def const(name: str, array: np.ndarray) -> str:
        inits.append(numpy_helper.from_array(np.ascontiguousarray(array), name))
        return name

    # 1. Marker pixels: the input is (RGB - 127.5) / 128, so R ~ +1, G ~ -1, B ~ 0 for RGB (255, 0, 128).
    nodes.append(helper.make_node("Split", ["input.1"], ["r", "g", "b"], axis=1))
    nodes += [
        helper.make_node("Greater", ["r", const("r_min", np.array(0.75, np.float32))], ["r_ok"]),
        helper.make_node("Less", ["g", const("g_max", np.array(-0.75, np.float32))], ["g_ok"]),
        helper.make_node("Abs", ["b"], ["b_abs"]),
        helper.make_node("Less", ["b_abs", const("b_max", np.array(0.3, np.float32))], ["b_ok"]),
        helper.make_node("And", ["r_ok", "g_ok"], ["rg_ok"]),
        helper.make_node("And", ["rg_ok", "b_ok"], ["marker_bool"]),
        helper.make_node("Cast", ["marker_bool"], ["marker"], to=TensorProto.FLOAT),
    ]
    # 2. Per-pixel coordinates folded so that a max-pool gives the marker extent in a window:
    #    channels (big - x, big - y, x + 1, y + 1), zero off the marker.
    ys, xs = np.mgrid[0:size, 0:size].astype(np.float32)
    coords = np.stack([big - xs, big - ys, xs + 1.0, ys + 1.0])[None]
    nodes.append(helper.make_node("Mul", ["marker", const("coords", coords)], ["marker_coords"]))

    outputs = {"score": [], "bbox": [], "kps": []}
    fx = ARCFACE_TEMPLATE[:, 0] / 112.0
    fy = ARCFACE_TEMPLATE[:, 1] / 112.0
    for stride in STRIDES:
        cells = size // stride
        s = str(stride)
        nodes.append(
            helper.make_node(
                "MaxPool", ["marker_coords"], [f"extent_{s}"],
                kernel_shape=[WINDOW, WINDOW], strides=[stride, stride], pads=[half, half, half, half],
            )
        )
        # extent channels (A, B, C, E): x1 = big - A, y1 = big - B, x2 = C, y2 = E.
        py, px = (np.mgrid[0:cells, 0:cells].astype(np.float32) * stride)
        # 3. Box distances (left, top, right, bottom) from the anchor point, in strides.
        bbox_offset = np.stack([px - big, py - big, -px, -py])[None] / stride
        nodes += [
            helper.make_node("Mul", [f"extent_{s}", const(f"inv_stride_{s}", np.array(1.0 / stride, np.float32))],
                             [f"extent_scaled_{s}"]),
            helper.make_node("Add", [f"extent_scaled_{s}", const(f"bbox_offset_{s}", bbox_offset.astype(np.float32))],
                             [f"bbox_map_{s}"]),
        ]
        # 4. Keypoints at template fractions of the box: kp_x = (1 - fx) * x1 + fx * x2, as distances in strides.
        weight = np.zeros((10, 4, 1, 1), np.float32)
        kps_offset = np.zeros((10, cells, cells), np.float32)
        for i in range(5):
            weight[2 * i, 0] = -(1.0 - fx[i]) / stride
            weight[2 * i, 2] = fx[i] / stride
            weight[2 * i + 1, 1] = -(1.0 - fy[i]) / stride
            weight[2 * i + 1, 3] = fy[i] / stride
            kps_offset[2 * i] = ((1.0 - fx[i]) * big - px) / stride
            kps_offset[2 * i + 1] = ((1.0 - fy[i]) * big - py) / stride
        nodes += [
            helper.make_node("Conv", [f"extent_{s}", const(f"kps_weight_{s}", weight)], [f"kps_lin_{s}"]),
            helper.make_node("Add", [f"kps_lin_{s}", const(f"kps_offset_{s}", kps_offset[None])], [f"kps_map_{s}"]),
        ]
        # 5. Score: high where the anchor point itself is a marker pixel.
        nodes += [
            helper.make_node(
                "Slice",
                ["marker", const(f"sl_start_{s}", np.array([0, 0], np.int64)),
                 const(f"sl_end_{s}", np.array([size, size], np.int64)),
                 const(f"sl_axes_{s}", np.array([2, 3], np.int64)),
                 const(f"sl_steps_{s}", np.array([stride, stride], np.int64))],
                [f"on_marker_{s}"],
            ),
            helper.make_node("Mul", [f"on_marker_{s}", const(f"score_gain_{s}", np.array(0.9, np.float32))],
                             [f"score_gain_out_{s}"]),
            helper.make_node("Add", [f"score_gain_out_{s}", const(f"score_floor_{s}", np.array(0.02, np.float32))],
                             [f"score_map_{s}"]),
        ]
        # 6. SCRFD layout: (cells * cells * anchors, channels), anchor index = (y * cells + x) * anchors + a.
        for kind, width in (("score", 1), ("bbox", 4), ("kps", 10)):
            name = f"{kind}_{s}"
            nodes += [
                helper.make_node("Concat", [f"{kind}_map_{s}"] * NUM_ANCHORS, [f"{kind}_anchors_{s}"], axis=1),
                helper.make_node("Transpose", [f"{kind}_anchors_{s}"], [f"{kind}_nhwc_{s}"], perm=[0, 2, 3, 1]),
                helper.make_node("Reshape", [f"{kind}_nhwc_{s}", const(f"{kind}_shape_{s}", np.array([-1, width], np.int64))],
                                 [name]),
            ]
            outputs[kind].append(
                helper.make_tensor_value_info(name, TensorProto.FLOAT, [cells * cells * NUM_ANCHORS, width])
            )

    graph = helper.make_graph(
        nodes,
        "tiny_scrfd",
        [helper.make_tensor_value_info("input.1", TensorProto.FLOAT, [1, 3, size, size])],
        outputs["score"] + outputs["bbox"] + outputs["kps"],
        initializer=inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)], producer_name="storyboard-tests")
    model.ir_version = 8
    return onnx.shape_inference.infer_shapes(model)


def _recognition_model(seed: int):
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(seed)
    conv_w = rng.normal(0.0, 0.2, size=(8, 3, 8, 8)).astype(np.float32)
    conv_b = rng.normal(0.0, 0.1, size=(8,)).astype(np.float32)
    fc_w = rng.normal(0.0, 1.0 / np.sqrt(8 * 14 * 14), size=(8 * 14 * 14, 512)).astype(np.float32)
    fc_b = rng.normal(0.0, 0.01, size=(512,)).astype(np.float32)
    # Node names must not start with "Sub"/"Mul": insightface would take that for an MXNet export with
    # normalisation built in, and skip its own (x - 127.5) / 127.5.
    nodes = [
        helper.make_node("Conv", ["input.1", "conv_w", "conv_b"], ["feat"], name="rec_conv", strides=[8, 8]),
        helper.make_node("Relu", ["feat"], ["feat_relu"], name="rec_relu"),
        helper.make_node("Flatten", ["feat_relu"], ["flat"], name="rec_flatten", axis=1),
        helper.make_node("Gemm", ["flat", "fc_w", "fc_b"], ["fc1"], name="rec_fc"),
    ]
    graph = helper.make_graph(
        nodes,
        "tiny_arcface",
        [helper.make_tensor_value_info("input.1", TensorProto.FLOAT, ["batch", 3, 112, 112])],
        [helper.make_tensor_value_info("fc1", TensorProto.FLOAT, ["batch", 512])],
        initializer=[
            numpy_helper.from_array(conv_w, "conv_w"),
            numpy_helper.from_array(conv_b, "conv_b"),
            numpy_helper.from_array(fc_w, "fc_w"),
            numpy_helper.from_array(fc_b, "fc_b"),
        ],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)], producer_name="storyboard-tests")
    model.ir_version = 8
    return model


# ---------------------------------------------------------------------------------------------------------
# Test pictures


def face_image(
    size: tuple[int, int] = (384, 384),
    face_box: tuple[int, int, int] = (132, 48, 120),
    *,
    seed: int = 0,
    extra_faces: tuple[tuple[int, int, int], ...] = (),
    marker: bool = True,
) -> Image.Image:
    """A person on a plain seeded background whose face (x, y, side) is a marker square the tiny detector finds."""
    rng = np.random.default_rng(seed)
    width, height = size
    background = tuple(int(v) for v in rng.integers(70, 200, size=3))
    clothes = tuple(int(v) for v in rng.integers(70, 200, size=3))
    image = Image.new("RGB", size, background)
    draw = ImageDraw.Draw(image)
    # Background texture (never the marker colour: every channel stays in 60..210).
    for _ in range(12):
        x, y = int(rng.integers(0, width)), int(rng.integers(0, height))
        colour = tuple(int(v) for v in rng.integers(60, 210, size=3))
        draw.ellipse([x - 10, y - 10, x + 10, y + 10], fill=colour)
    for x, y, side in (face_box, *extra_faces):
        body = body_box((x, y, side), size)
        draw.rectangle(body, fill=clothes)
        _draw_face(draw, x, y, side, MARKER_RGB if marker else SKIN_RGB, rng)
    return image


def no_face_image(size: tuple[int, int] = (384, 384), face_box: tuple[int, int, int] = (132, 48, 120),
                  *, seed: int = 0) -> Image.Image:
    """The same kind of picture with a skin-coloured face: the tiny detector finds no face in it."""
    return face_image(size, face_box, seed=seed, marker=False)


def body_box(face_box: tuple[int, int, int], size: tuple[int, int]) -> tuple[int, int, int, int]:
    """The rectangle `face_image` draws the body in, below the face (x0, y0, x1, y1, inclusive)."""
    x, y, side = face_box
    return (max(0, x - side // 2), y + side, min(size[0] - 1, x + side + side // 2), size[1] - 1)


def person_mask(size: tuple[int, int] = (384, 384), face_box: tuple[int, int, int] = (132, 48, 120)) -> Image.Image:
    """A character mask ("L", 255 on the person) matching `face_image` with the same size and face box."""
    mask = Image.new("L", size, 0)
    draw = ImageDraw.Draw(mask)
    x, y, side = face_box
    draw.rectangle([x, y, x + side - 1, y + side - 1], fill=255)
    draw.rectangle(body_box(face_box, size), fill=255)
    return mask


def _draw_face(draw: ImageDraw.ImageDraw, x: int, y: int, side: int, colour: tuple[int, int, int],
               rng: np.random.Generator) -> None:
    draw.rectangle([x, y, x + side - 1, y + side - 1], fill=colour)
    # Eyes and mouth, small and dark, at the ArcFace template positions, jittered per seed.
    radius = max(2, side // 16)
    points = ARCFACE_TEMPLATE * (side / 112.0) + rng.normal(0.0, side / 60.0, size=(5, 2))
    for i in (0, 1, 3, 4):
        px, py = float(x + points[i, 0]), float(y + points[i, 1])
        draw.ellipse([px - radius, py - radius, px + radius, py + radius], fill=(30, 20, 20))
