"""clip_loss: equal to a hand computation and to open_clip's ClipLoss; shared captions; two
processes compute the gradient of the same global loss as one."""

from __future__ import annotations

import math
import os
import socket
import subprocess
import sys

import pytest
import torch
import torch.nn.functional as F

from hybridnets.multimodal import clip_loss


def _pairs(n: int = 6, d: int = 8) -> tuple[torch.Tensor, torch.Tensor]:
    return F.normalize(torch.randn(n, d), dim=-1), F.normalize(torch.randn(n, d), dim=-1)


def test_equals_a_hand_computation() -> None:
    image, text = _pairs()
    scale = 10.0
    logits = scale * image @ text.T
    i2t = -torch.stack([logits[i].log_softmax(0)[i] for i in range(len(logits))]).mean()
    t2i = -torch.stack([logits[:, i].log_softmax(0)[i] for i in range(len(logits))]).mean()
    assert clip_loss(image, text, scale) == pytest.approx(((i2t + t2i) / 2).item(), rel=1e-6)


def test_equals_open_clip_clip_loss() -> None:
    open_clip = pytest.importorskip("open_clip")
    image, text = _pairs(16, 32)
    scale = torch.tensor(14.3)
    theirs = open_clip.ClipLoss()(image, text, scale)
    assert clip_loss(image, text, scale).item() == pytest.approx(theirs.item(), rel=1e-6)


def test_a_shared_caption_makes_its_images_joint_positives() -> None:
    """Two images with one caption: the plain loss equals the loss whose targets spread each
    row over both (the caption's two rows are identical), so no special targets are needed."""
    image, text = _pairs()
    text[1] = text[0]
    logits = 5.0 * image @ text.T
    target = torch.eye(6)
    target[0, :2] = target[1, :2] = 0.5
    joint = (F.cross_entropy(logits, target) + F.cross_entropy(logits.T, target)) / 2
    assert clip_loss(image, text, 5.0).item() == pytest.approx(joint.item(), rel=1e-6)


_WORKER = """
import sys

import torch
import torch.distributed as dist

from hybridnets.multimodal import clip_loss

dist.init_process_group("gloo")
rank = dist.get_rank()
data = torch.load(sys.argv[1], weights_only=True)
half = slice(3 * rank, 3 * rank + 3)
img = data["image"][half].clone().requires_grad_()
txt = data["text"][half].clone().requires_grad_()
loss = clip_loss(img, txt, 7.0)
loss.backward()  # / 2 below: DDP averages the gradients of 2 ranks
torch.save({"loss": loss.item(), "img": img.grad / 2, "txt": txt.grad / 2}, f"{sys.argv[2]}.{rank}")
dist.destroy_process_group()
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_two_processes_give_the_gradient_of_the_global_loss(tmp_path) -> None:
    image, text = _pairs(6, 4)
    torch.save({"image": image, "text": text}, tmp_path / "pairs.pt")
    (tmp_path / "worker.py").write_text(_WORKER)
    launcher = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2"]
    launcher += ["--master_addr", "127.0.0.1", "--master_port", str(_free_port())]
    args = [str(tmp_path / "worker.py"), str(tmp_path / "pairs.pt"), str(tmp_path / "out")]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run([*launcher, *args], env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    out = [torch.load(tmp_path / f"out.{rank}", weights_only=True) for rank in (0, 1)]
    img, txt = image.clone().requires_grad_(), text.clone().requires_grad_()
    loss = clip_loss(img, txt, 7.0)
    loss.backward()
    assert (out[0]["loss"] + out[1]["loss"]) / 2 == pytest.approx(loss.item(), rel=1e-5)
    torch.testing.assert_close(torch.cat([out[0]["img"], out[1]["img"]]), img.grad)
    torch.testing.assert_close(torch.cat([out[0]["txt"], out[1]["txt"]]), txt.grad)


def test_the_scale_is_clamped_where_it_is_used(tiny_text_model) -> None:
    from hybridnets.multimodal import ImageTextModel, ImageTower, TextTower

    model = ImageTextModel(ImageTower("convvit_test"), TextTower(tiny_text_model), 16)
    assert model.scale.item() == pytest.approx(1 / 0.07, rel=1e-5)
    with torch.no_grad():
        model.logit_scale.fill_(10.0)
    assert model.scale.item() == pytest.approx(100.0)
    with torch.no_grad():
        model.logit_scale.fill_(-3.0)
    assert model.scale.item() == pytest.approx(1.0)
    assert math.isclose(model.max_log_scale, math.log(100))
