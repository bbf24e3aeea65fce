"""Shared fixtures: deterministic seeds, small helpers used across the test tree."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import torch

DATA_DIRS = [
    Path(p)
    for p in (os.environ.get("MEDMNIST_DIR"), Path(__file__).parents[2] / "shared" / "data")
    if p
]


@pytest.fixture(autouse=True)
def _seed() -> None:
    torch.manual_seed(0)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="needs CUDA")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip)


@pytest.fixture
def medmnist_file() -> Callable[[str], Path]:
    """``medmnist_file("pneumoniamnist.npz")``: the real file from ``$MEDMNIST_DIR`` or
    ``../shared/data``; the test is skipped, naming where it looked, when neither has it."""

    def find(name: str) -> Path:
        for folder in DATA_DIRS:
            if (folder / name).is_file():
                return folder / name
        pytest.skip(f"{name} not in {[str(d) for d in DATA_DIRS]}; set MEDMNIST_DIR to run it")

    return find


def write_patch_toy(path: Path, n_train: int = 29, n_eval: int = 21, size: int = 16) -> Path:
    """A tiny 2D MedMNIST-format ``.npz``: noise, plus a bright patch on class-1 images."""
    import numpy as np

    rng = np.random.default_rng(0)
    arrays = {}
    for split, n in (("train", n_train), ("val", n_eval), ("test", n_eval)):
        labels = np.arange(n, dtype=np.uint8) % 2
        images = rng.integers(0, 80, (n, size, size), dtype=np.uint8)
        images[labels == 1, 4:10, 5:11] += 120
        arrays |= {f"{split}_images": images, f"{split}_labels": labels[:, None]}
    np.savez(path, **arrays)
    return path


def write_cube_toy(path: Path, n: int = 24, size: int = 16) -> Path:
    """A tiny 3D MedMNIST-format ``.npz``: noise, plus a bright cube on class-1 volumes."""
    import numpy as np

    rng = np.random.default_rng(0)
    arrays = {}
    for split in ("train", "val", "test"):
        labels = np.arange(n, dtype=np.uint8) % 2
        images = rng.integers(0, 64, (n, size, size, size), dtype=np.uint8)
        images[labels == 1, 4:12, 4:12, 4:12] += 128  # a bright cube marks class 1
        arrays |= {f"{split}_images": images, f"{split}_labels": labels[:, None]}
    np.savez(path, **arrays)
    return path


def write_shortcut_table(folder: Path) -> Path:
    """label = a faint patch in noise; a flag column equals the label in the training rows and
    is its opposite in the validation and test rows (a shortcut, easier to learn than the
    image, that only holds where it was learned). The image alone predicts every split."""
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(1)
    (folder / "img").mkdir()
    lines = ["path,label,flag,split"]
    for i in range(192):
        split = "train" if i < 128 else ("val" if i < 160 else "test")
        patch = i % 2
        x = rng.normal(50, 25, (16, 16))
        r, c = rng.integers(1, 10, 2)
        if patch:
            x[r : r + 6, c : c + 6] += 25
        Image.fromarray(np.clip(x, 0, 255).astype(np.uint8)).save(folder / f"img/{i}.png")
        flag = patch if split == "train" else 1 - patch
        lines.append(f"img/{i}.png,{patch},{'ny'[flag]},{split}")
    (folder / "cases.csv").write_text("\n".join(lines) + "\n")
    return folder / "cases.csv"


@pytest.fixture
def shortcut_table() -> Callable[[Path], Path]:
    """``shortcut_table(folder)``: write :func:`write_shortcut_table`, return the CSV's path."""
    return write_shortcut_table


@pytest.fixture
def cube_toy() -> Callable[..., Path]:
    """``cube_toy(path, n=24, size=16)``: write :func:`write_cube_toy` and return its path."""
    return write_cube_toy


@pytest.fixture
def patch_toy() -> Callable[..., Path]:
    """``patch_toy(path, n_train=29)``: write :func:`write_patch_toy` and return its path."""
    return write_patch_toy


@pytest.fixture
def device() -> Iterator[torch.device]:
    """Where Triton kernel and backend tests run: ``cuda`` when available, else ``cpu`` under
    Triton's interpreter (``TRITON_INTERPRET=1`` only while the test runs, so the rest of the
    suite keeps dispatching to SDPA on CPU)."""
    pytest.importorskip("triton")
    if torch.cuda.is_available():
        yield torch.device("cuda")
        return
    from hybridnets.kernels.interpret import cpu_interpreter

    with cpu_interpreter():
        yield torch.device("cpu")


_TOY_WORDS = (  # noqa: SIM905
    "a an the of image scan showing medical ct mr mri red green blue bright dark square circle "
    "cross cube sphere chest head brain spine abdomen pelvis"
).split()


def write_tiny_text_model(folder: Path, hidden: int = 32) -> Path:
    """A randomly initialised 2-layer BERT and a word-level tokenizer for :data:`_TOY_WORDS`,
    saved as a Hugging Face folder (``AutoModel`` / ``AutoTokenizer`` load it offline)."""
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors
    from transformers import BertConfig, BertModel, PreTrainedTokenizerFast

    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    vocab = {w: i for i, w in enumerate(specials + _TOY_WORDS)}
    tokenizer = Tokenizer(models.WordLevel(vocab, unk_token="[UNK]"))
    tokenizer.normalizer = normalizers.BertNormalizer(lowercase=True)
    tokenizer.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tokenizer.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", special_tokens=[("[CLS]", 2), ("[SEP]", 3)]
    )
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tokenizer,
        **{f"{k}_token": f"[{k.upper()}]" for k in ("unk", "pad", "cls", "sep", "mask")},
    )
    config = BertConfig(
        vocab_size=len(vocab),
        hidden_size=hidden,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=2 * hidden,
        max_position_embeddings=64,
    )
    torch.manual_seed(0)
    BertModel(config).save_pretrained(folder)
    fast.save_pretrained(folder)
    return folder


@pytest.fixture(scope="session")
def tiny_text_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Folder of :func:`write_tiny_text_model` (made once per session)."""
    pytest.importorskip("transformers")
    return write_tiny_text_model(tmp_path_factory.mktemp("tiny_bert"))


def write_shape_pairs(
    folder: Path, spatial_dims: int = 2, n_train: int = 48, n_test: int = 24, size: int = 32
) -> Path:
    """Synthetic image–caption pairs in a ``pairs.csv`` (columns image, text, label, split).

    2D: RGB PNGs of a red, green or blue square, circle or cross on dark noise, captioned
    ``"a red square"``; 3D: ``.npy`` volumes of a bright or dark cube or sphere, captioned
    ``"a bright cube"``. The label is the shape; position and size vary a little.
    """
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(0)
    shapes = ("square", "circle", "cross") if spatial_dims == 2 else ("cube", "sphere")
    colours = ("red", "green", "blue") if spatial_dims == 2 else ("bright", "dark")
    grid = np.stack(np.meshgrid(*[np.arange(size)] * spatial_dims, indexing="ij"))  # (d, *S)
    rows = ["image,text,label,split"]
    for split, n in (("train", n_train), ("test", n_test)):
        for i in range(n):
            shape, colour = shapes[i % len(shapes)], colours[(i // len(shapes)) % len(colours)]
            centre = size / 2 + rng.uniform(-size / 16, size / 16, spatial_dims)
            radius = size * rng.uniform(0.25, 0.32)
            offset = np.abs(grid - centre.reshape(-1, *[1] * spatial_dims))  # (d, *S)
            mask = {
                "square": offset.max(0) < radius,
                "cube": offset.max(0) < radius,
                "circle": (offset**2).sum(0) < radius**2,
                "sphere": (offset**2).sum(0) < radius**2,
                "cross": (offset.min(0) < radius / 3) & (offset.max(0) < radius),
            }[shape]
            name = f"{split}_{i}"
            if spatial_dims == 2:
                image = rng.integers(0, 40, (size, size, 3), dtype=np.uint8)
                image[mask] = {"red": (220, 30, 30), "green": (30, 220, 30), "blue": (30, 30, 220)}[
                    colour
                ]
                Image.fromarray(image).save(folder / f"{name}.png")
                name += ".png"
            else:
                volume = rng.uniform(0, 0.2, (size,) * 3).astype(np.float32)
                volume[mask] = 1.0 if colour == "bright" else 0.5
                np.save(folder / f"{name}.npy", volume)
                name += ".npy"
            rows.append(f"{name},a {colour} {shape},{shape},{split}")
    (folder / "pairs.csv").write_text("\n".join(rows) + "\n")
    return folder / "pairs.csv"


@pytest.fixture
def shape_pairs() -> Callable[..., Path]:
    """``shape_pairs(folder, spatial_dims=2)``: write :func:`write_shape_pairs`, return the CSV."""
    return write_shape_pairs


def write_medpix_like(root: Path, n: int = 3) -> Path:
    """A folder in MedPix 2.0's layout (``splits/descriptions_*.jsonl``, ``images/*.png``)
    with ``n`` synthetic non-square images per split (the first RGB, the others grey)."""
    import json

    from PIL import Image

    from hybridnets.data.pairs import MEDPIX_REGIONS

    (root / "splits").mkdir(parents=True)
    (root / "images").mkdir()
    for split in ("train", "dev", "test"):
        lines = []
        for i in range(n):
            name = f"MPX{i}_{split}"
            mode = "RGB" if i == 0 else "L"
            colour = (200, 0, 0) if mode == "RGB" else 200
            Image.new(mode, (40, 20), color=colour).save(root / "images" / f"{name}.png")
            record = {
                "Type": ["CT", "MR"][i % 2],
                "image": name,
                "Description": {"Caption": f"  Axial  CT of the {split}\n{i}  "},
                "Location Category": MEDPIX_REGIONS[i % 5],
            }
            lines.append(json.dumps(record))
        (root / "splits" / f"descriptions_{split}.jsonl").write_text("\n".join(lines) + "\n")
    return root


@pytest.fixture
def medpix_like() -> Callable[..., Path]:
    """``medpix_like(root, n=3)``: write :func:`write_medpix_like` and return the folder."""
    return write_medpix_like


def write_ham_like(root: Path, n: int = 70) -> Path:
    """A folder in HAM10000's layout (``HAM10000_metadata_ext.csv``, ``images/ISIC_*.jpg``):
    ``n`` 20×15 JPEGs, two images per lesion, three diagnoses that the site decides (so a
    metadata model can learn them) and the image colour hints at."""
    from PIL import Image

    (root / "images").mkdir(parents=True)
    sites = ("back", "face", "lower extremity")
    lines = [",lesion_id,image_id,dx,dx_type,age,sex,localization"]
    for i in range(n):
        k = (i // 2) % 3
        image_id = f"ISIC_{i:07d}"
        Image.new("RGB", (20, 15), (60 + 80 * k, 90, 120)).save(root / "images" / f"{image_id}.jpg")
        age = "" if i % 13 == 0 else f"{30 + i % 40}.0"
        lines.append(f"{i},HAM_{i // 2:07d},{image_id},{('nv', 'mel', 'bkl')[k]},histo,{age},"
                     f"{('male', 'female')[i % 2]},{sites[k]}")  # fmt: skip
    (root / "HAM10000_metadata_ext.csv").write_text("\n".join(lines) + "\n")
    return root


@pytest.fixture
def ham_like() -> Callable[..., Path]:
    """``ham_like(root, n=70)``: write :func:`write_ham_like` and return the folder."""
    return write_ham_like


@pytest.fixture
def crash_after_saves() -> Callable[[int], contextlib.AbstractContextManager]:
    """``with crash_after_saves(n): ...``: inside the block, a recipe raises KeyboardInterrupt
    right after it wrote its training state for the n-th time (an interruption between two
    epochs); after the block, saving works again."""
    from hybridnets.engine import loop

    @contextlib.contextmanager
    def crash(n: int) -> Iterator[None]:
        real, saves = loop.save_state, []

        def save_then_crash(path, state):
            real(path, state)
            saves.append(path)
            if len(saves) == n:
                raise KeyboardInterrupt

        with pytest.MonkeyPatch.context() as m:
            m.setattr(loop, "save_state", save_then_crash)
            yield

    return crash
