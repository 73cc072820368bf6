"""ONNX export: the file describes itself and the daemon's Recognizer runs it as trained."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("onnx")

from edge_ocr.errors import ModelError  # noqa: E402
from edge_ocr.modelinfo import ModelInfo  # noqa: E402
from edge_ocr.recognizer import Recognizer  # noqa: E402
from scripts.crnn import CRNN, DOWNSAMPLE, CrnnShape  # noqa: E402
from scripts.export import (  # noqa: E402
    check_weight_range,
    export_fp32,
    int8_weight_span,
    quantize,
    set_metadata,
)

REPO = Path(__file__).resolve().parent.parent

CHARSET = "0123456789ABC -"


@pytest.fixture
def exported(tmp_path: Path) -> tuple[CRNN, Path]:
    torch.manual_seed(1)
    model = CRNN(CrnnShape(len(CHARSET) + 1, (8, 8, 8, 8, 8, 8, 16), 16)).eval()
    info = ModelInfo(charset=CHARSET, downsample=DOWNSAMPLE, version="t1", provenance="test")
    path = tmp_path / "m.onnx"
    export_fp32(model, info, path)
    return model, path


def test_exported_model_carries_its_metadata(exported: tuple[CRNN, Path]) -> None:
    """The charset, version and provenance travel inside the ONNX file."""
    _, path = exported
    rec = Recognizer(path)
    assert rec.info.charset == CHARSET
    assert (rec.info.version, rec.info.provenance) == ("t1", "test")


def test_onnx_matches_torch_for_any_batch_and_width(exported: tuple[CRNN, Path]) -> None:
    """Batch size and width are dynamic, and ONNX computes what PyTorch computes."""
    import onnxruntime as ort

    model, path = exported
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    for batch, width in [(1, 40), (3, 200)]:
        x = np.random.default_rng(batch).normal(size=(batch, 1, 32, width)).astype(np.float32)
        (out,) = session.run(None, {"image": x})
        with torch.no_grad():
            ref = model(torch.from_numpy(x)).numpy()
        assert out.shape == (batch, width // DOWNSAMPLE, len(CHARSET) + 1)
        np.testing.assert_allclose(out, ref, atol=1e-4)


def test_model_without_metadata_is_refused(exported: tuple[CRNN, Path], tmp_path: Path) -> None:
    """A model that does not describe itself is a ModelError naming the missing key."""
    import onnx

    _, path = exported
    bare = onnx.load(str(path))
    del bare.metadata_props[:]
    bare_path = tmp_path / "bare.onnx"
    onnx.save(bare, str(bare_path))
    with pytest.raises(ModelError, match="format"):
        Recognizer(bare_path)


def test_metadata_is_replaced_not_duplicated(exported: tuple[CRNN, Path]) -> None:
    """Writing metadata twice (export, then quantize) leaves one value per key."""
    import onnx

    _, path = exported
    set_metadata(path, ModelInfo(charset=CHARSET, version="t2"))
    keys = [p.key for p in onnx.load(str(path)).metadata_props]
    assert len(keys) == len(set(keys))
    assert Recognizer(path).info.version == "t2"


def test_int8_weights_leave_headroom_for_cpus_without_vnni(
    exported: tuple[CRNN, Path], tmp_path: Path
) -> None:
    """The quantized convolutions and LSTM use 7-bit weights: onnxruntime's uint8 x int8 kernels
    on x86 without VNNI sum product pairs in int16, and full-range weights saturate there (the
    full-range 0.2.11 lost 2 points of real words on such a CPU). The shipped models too."""
    _, fp32 = exported
    info = ModelInfo(charset=CHARSET, downsample=DOWNSAMPLE, version="t1", provenance="test")
    int8 = tmp_path / "m_int8.onnx"
    quantize(fp32, int8, "static+lstm", CHARSET, info, calib_count=4, seed=1)
    check_weight_range(int8)  # raises beyond WEIGHT_RANGE
    low, high = int8_weight_span(int8)
    assert high - low > 64  # the range is used, not collapsed
    for shipped in ("latin_crnn_int8.onnx", "text_det_int8.onnx"):
        check_weight_range(REPO / "models" / shipped)  # raises beyond the range
