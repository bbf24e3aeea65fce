"""Zero-shot tasks of the alignment recipe: class names (with synonyms) and prompt templates.

MedPix 2.0 has two: the five body regions (``Location Category``) and CT vs MR (``Type``).
A table's ``label`` column is a task of its own, each class name used as written.

    task = TASKS["modality"]; task.names["MR"][:2]   # ['MRI', 'magnetic resonance imaging']
"""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["GENERIC_TEMPLATES", "TASKS", "ZeroShotTask", "task_for"]


@dataclass(frozen=True)
class ZeroShotTask:
    """Prompt templates, and the names each class is called by in them (class → names)."""

    templates: tuple[str, ...]
    names: dict[str, list[str]] = field(default_factory=dict)

    def classnames(self, classes: list[str]) -> list[list[str]]:
        """The names of each of ``classes`` (a class without synonyms is called by itself)."""
        return [self.names.get(c, [c]) for c in classes]


GENERIC_TEMPLATES = ("a {} image.", "an image of {}.", "a medical image showing {}.")

TASKS: dict[str, ZeroShotTask] = {
    "region": ZeroShotTask(
        templates=(
            "a CT image of the {}.",
            "an MR image of the {}.",
            "a radiology image of the {}.",
            "an axial image of the {}.",
        ),
        names={
            "Head": ["head", "brain"],
            # most of this class is musculoskeletal (joints, bones, muscles), not the spine:
            # the two words chosen on the dev split (benchmarks/align_prompts.py, nine towers)
            "Spine and Muscles": ["spine", "spine and muscles", "joint", "musculoskeletal"],
            "Thorax": ["chest", "thorax"],
            "Abdomen": ["abdomen", "liver"],
            "Reproductive and Urinary System": ["pelvis", "kidney", "bladder"],
        },
    ),
    # captions rarely name the modality; they describe what it shows (densities on CT,
    # sequences and signal on MR), so each class is also called by those words (chosen on
    # the dev split: +0.017 mean accuracy over six aligned towers; README, MedPix 2.0)
    "modality": ZeroShotTask(
        templates=("{}.", "a {} image.", "an axial {} image showing a lesion."),
        names={
            "CT": [
                "CT",
                "computed tomography",
                "contrast-enhanced CT",
                "non-contrast CT",
                "hypodense lesion on CT",
                "hyperdense",
                "low attenuation",
                "CT angiography",
            ],
            "MR": [
                "MRI",
                "magnetic resonance imaging",
                "T1-weighted MR",
                "T2-weighted MR",
                "FLAIR",
                "hyperintense signal",
                "hypointense signal",
                "diffusion-weighted MR",
                "gadolinium enhancement",
            ],
        },
    ),
}


def task_for(name: str) -> ZeroShotTask:
    """The task called ``name`` (a table's ``label``: the generic templates)."""
    return TASKS.get(name, ZeroShotTask(GENERIC_TEMPLATES))
