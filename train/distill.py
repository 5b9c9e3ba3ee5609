"""The distillation loss: the student's one training loop gets the teacher's logits as a second target.

loss = (1 - a) * mean_i(w_i * CE(student_i, label_i))
       + a * T^2 * mean_i KL(softmax(teacher_i / T) || softmax(student_i / T))

Hinton et al. (2015), "Distilling the Knowledge in a Neural Network": the T^2 keeps the soft term's gradients
at the scale of the hard one when T changes. w_i is 0 for examples whose hard label is not trusted (windows of
running speech, where any word may occur): the teacher alone labels those.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def distillation_loss(
    logits: torch.Tensor,
    labels: torch.Tensor,
    teacher_logits: torch.Tensor,
    hard_weight: torch.Tensor,
    temperature: float,
    soft_weight: float,
    label_smoothing: float = 0.0,
) -> torch.Tensor:
    """(B, C) student logits, (B,) labels, (B, C) teacher logits, (B,) hard-label weights -> scalar loss."""
    hard = F.cross_entropy(logits, labels, label_smoothing=label_smoothing, reduction="none")
    hard = (hard * hard_weight).mean()
    t = temperature
    soft = F.kl_div(
        F.log_softmax(logits / t, dim=1),
        F.log_softmax(teacher_logits / t, dim=1),
        log_target=True,
        reduction="batchmean",
    )
    return (1.0 - soft_weight) * hard + soft_weight * t * t * soft
