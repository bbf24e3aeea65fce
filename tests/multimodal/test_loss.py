"""clip_loss: equal to a hand computation and to open_clip's ClipLoss; shared captions; two
processes compute the gradient of the same global loss as one."""

from __future__ import annotations

import math
import os
import socket
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


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _worker(rank: int, port: int, image: torch.Tensor, text: torch.Tensor, out) -> None:
    import torch.distributed as dist

    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    dist.init_process_group("gloo", rank=rank, world_size=2)
    torch.set_num_threads(1)
    half = slice(3 * rank, 3 * rank + 3)
    img, txt = image[half].clone().requires_grad_(), text[half].clone().requires_grad_()
    loss = clip_loss(img, txt, 7.0)
    loss.backward()
    out.put((rank, loss.item(), img.grad / 2, txt.grad / 2))  # / 2: DDP averages 2 ranks
    dist.destroy_process_group()


@pytest.mark.skipif(sys.platform != "linux", reason="forked gloo workers")
def test_two_processes_give_the_gradient_of_the_global_loss() -> None:
    import multiprocessing

    image, text = _pairs(6, 4)
    context = multiprocessing.get_context("fork")  # no re-import: about a second
    queue, port = context.Queue(), _free_port()
    workers = [context.Process(target=_worker, args=(r, port, image, text, queue)) for r in (0, 1)]
    for w in workers:
        w.start()
    out = {rank: rest for rank, *rest in (queue.get(timeout=60), queue.get(timeout=60))}
    for w in workers:
        w.join(timeout=60)
    img, txt = image.clone().requires_grad_(), text.clone().requires_grad_()
    loss = clip_loss(img, txt, 7.0)
    loss.backward()
    assert (out[0][0] + out[1][0]) / 2 == pytest.approx(loss.item(), rel=1e-5)
    torch.testing.assert_close(torch.cat([out[0][1], out[1][1]]), img.grad)
    torch.testing.assert_close(torch.cat([out[0][2], out[1][2]]), txt.grad)


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
