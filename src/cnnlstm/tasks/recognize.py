"""``RecognitionTask``: read the text in images with a CTC model (CNN -> columns -> LSTM)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar, Literal, cast

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import Tensor
from torchmetrics.text import CharErrorRate

from cnnlstm.alphabet import DEFAULT_ALPHABET, check_alphabet, decode_classes
from cnnlstm.errors import ConfigError, DataError, ShapeError
from cnnlstm.functional import format_shape
from cnnlstm.models.ctc import ctc_beam_decode, ctc_greedy_decode
from cnnlstm.tasks.base import SchedulerName, TaskBase
from cnnlstm.tasks.metrics import WordAccuracy

__all__ = ["RecognitionTask"]

_LAYOUTS = {3: "(images, targets, target_lengths)"}


class RecognitionTask(TaskBase):
    """Text recognition with CTC: images ``(B, C, H, W)`` -> strings over ``alphabet``.

    Class 0 is the CTC blank and ``alphabet[k]`` is class ``k + 1``, as
    :class:`~cnnlstm.data.TextLines` encodes targets. Batches are
    ``(images, targets, target_lengths)`` as ``TextLines.collate`` makes them: the targets of
    the batch concatenated, and the length of each. The model returns log-probabilities
    ``(B, L, K)`` and says through ``output_lengths(input_widths)`` how many of the ``L`` steps
    each image fills. The loss is ``F.ctc_loss`` with ``zero_infinity=True`` (a target too long
    for its image gives no gradient instead of an infinite loss).

    Logged: ``train/loss``, ``val/loss``, ``val/word_acc`` (the share of strings read exactly),
    ``val/cer`` (character error rate: edits over reference characters, over the whole set),
    and the same for ``test``. ``predict`` returns the decoded strings.

    The batches come from :class:`~cnnlstm.data.TextLinesDataModule`, or from
    :class:`~cnnlstm.data.ArrayDataModule` on an ``.npz`` of the user's own lines (``x`` images,
    ``y`` targets padded to ``(N, max_length)``, ``lengths``). A DataModule that says its
    ``alphabet`` has to say this one, and targets have to be classes ``1..len(alphabet)``
    (both are checked: CTC would otherwise train on them silently).

    Args:
        model: a name from ``cnnlstm.models.list_models()``; a CTC recognizer such as ``"crnn"``.
        model_args: keyword arguments of the model factory, except ``num_classes``, which is
            ``len(alphabet) + 1``.
        alphabet: the characters, each once, in class order.
        decoder: ``"greedy"`` (best path) or ``"beam"`` (prefix beam search).
        beam_width: prefixes kept by the beam decoder.
        lr: the AdamW learning rate (the peak for ``"onecycle"``).
        weight_decay: AdamW's weight decay.
        scheduler: ``"none"``, ``"cosine"`` or ``"onecycle"``, stepped every batch.

    Raises:
        ValueError: for an empty or repeating alphabet, an unknown decoder, a beam width below
            1, ``num_classes`` inside ``model_args``, or bad optimizer settings.
        ConfigError: for a model without ``output_lengths``, and (in ``setup``) for a
            DataModule whose ``alphabet`` differs from the task's.
        ShapeError: for a batch of another layout (see :attr:`batch_advice`).
        DataError: for targets outside ``1..len(alphabet)`` within their lengths.

    Example:
        >>> import torch
        >>> task = RecognitionTask(
        ...     model_args={"image_height": 16, "channels": (4, 8), "hidden_size": 8}
        ... )
        >>> task(torch.rand(2, 1, 16, 64)).shape[-1] == len(task.alphabet) + 1
        True
        >>> len(task.decode(task(torch.rand(2, 1, 16, 64))))
        2
    """

    monitor: ClassVar[str] = "val/cer"
    monitor_mode: ClassVar[Literal["min", "max"]] = "min"
    batch_advice: ClassVar[str] = (
        "TextLinesDataModule yields that layout, and so does ArrayDataModule for an .npz of x "
        "images, y targets padded to (N, max_length) and their lengths (as 'cnnlstm generate "
        "text-lines' writes it; name another key with lengths_key); (x, y) batches are for "
        "ClassificationTask or ForecastTask."
    )

    def __init__(
        self,
        model: str = "crnn",
        model_args: dict[str, Any] | None = None,
        *,
        alphabet: str = DEFAULT_ALPHABET,
        decoder: Literal["greedy", "beam"] = "greedy",
        beam_width: int = 8,
        lr: float = 1e-3,
        weight_decay: float = 0.0,
        scheduler: SchedulerName = "cosine",
    ) -> None:
        super().__init__(lr=lr, weight_decay=weight_decay, scheduler=scheduler)
        check_alphabet(alphabet)
        if decoder not in ("greedy", "beam"):
            raise ValueError(f"decoder has to be 'greedy' or 'beam', but got {decoder!r}")
        if beam_width < 1:
            raise ValueError(f"beam_width has to be at least 1, but got {beam_width}")
        self.save_hyperparameters()
        self.alphabet = alphabet
        self.decoder = decoder
        self.beam_width = beam_width
        self.num_classes = len(alphabet) + 1
        self.model = self.build_model(model, model_args, num_classes=self.num_classes)
        output_lengths = getattr(self.model, "output_lengths", None)
        if not callable(output_lengths):
            raise ConfigError(
                f"RecognitionTask: model has to have output_lengths(input_widths) (the steps CTC "
                f"reads per image), but got {model!r}, a {type(self.model).__name__} without it. "
                f"Use a CTC recognizer such as 'crnn'."
            )
        self.val_word_acc = WordAccuracy()
        self.val_cer = CharErrorRate()
        self.test_word_acc = WordAccuracy()
        self.test_cer = CharErrorRate()

    def setup(self, stage: str) -> None:
        """Before training or evaluating, check that the data's alphabet is the task's."""
        trainer = self._trainer
        data = getattr(trainer, "datamodule", None) if trainer is not None else None
        found = getattr(data, "alphabet", None)
        if stage == "predict" or not isinstance(found, str) or found == self.alphabet:
            return
        source = getattr(data, "path", None)
        where = f" ({source})" if source is not None else ""
        raise ConfigError(
            f"RecognitionTask: the alphabet has to be the one the data's targets number, "
            f"{found!r}{where}, but got {self.alphabet!r}; set model.init_args.alphabet to "
            f"{found!r} (class k is alphabet[k - 1])."
        )

    def _check_targets(self, targets: Tensor, target_lengths: Tensor) -> None:
        """A :class:`DataError` for targets outside ``1..len(alphabet)`` (CTC takes any)."""
        if targets.numel() == 0:
            return
        low, high = int(targets.min()), int(targets.max())
        if low >= 1 and high < self.num_classes:
            return
        row = int(torch.nonzero((targets < 1) | (targets >= self.num_classes))[0, 0])
        sample = int(torch.searchsorted(target_lengths.cumsum(0), row, right=True))
        value = int(targets[row])
        why = (
            "0 is the CTC blank, which pads targets: are the target lengths longer than the texts?"
            if value == 0
            else f"the alphabet has {len(self.alphabet)} characters: set "
            f"model.init_args.alphabet to the one the data was written with"
        )
        raise DataError(
            f"RecognitionTask: targets have to be classes 1..{self.num_classes - 1} "
            f"(alphabet[k - 1]), but sample {sample} of the batch holds {value}; {why}."
        ) from None

    def _log_probs(self, images: Tensor) -> tuple[Tensor, Tensor]:
        """``(log_probs (B, L, K), lengths (B,))``: the model's output and the steps each fills."""
        if images.dim() != 4:
            raise ShapeError(
                f"RecognitionTask: expected images (B, C, H, W), but got a {images.dim()}-D "
                f"tensor of shape {format_shape(images.shape)}. A single image needs a batch "
                f"axis (x.unsqueeze(0))."
            ) from None
        log_probs: Tensor = self(images)
        batch = images.shape[0]
        if (
            log_probs.dim() != 3
            or log_probs.shape[0] != batch
            or log_probs.shape[2] != self.num_classes
        ):
            raise ShapeError(
                f"RecognitionTask: expected the model to return log-probabilities (B, L, K) with "
                f"B={batch} and K=len(alphabet)+1={self.num_classes}, but got "
                f"{format_shape(log_probs.shape)}. Use a CTC model such as 'crnn'."
            ) from None
        widths = torch.full((batch,), images.shape[-1], dtype=torch.int64, device=images.device)
        output_lengths = cast("Callable[[Tensor], Tensor]", self.model.output_lengths)
        lengths = torch.as_tensor(output_lengths(widths), device=images.device)
        lengths = lengths.to(torch.int64).clamp(max=log_probs.shape[1])  # (B,)
        return log_probs, lengths

    def decode(self, log_probs: Tensor, lengths: Tensor | None = None) -> list[str]:
        """The strings of log-probabilities ``(B, L, K)`` with the task's decoder.

        Args:
            log_probs: ``(B, L, K)`` per-step class log-probabilities.
            lengths: ``(B,)`` the valid steps of each row; all ``L`` when ``None``.
        """
        if self.decoder == "beam":
            paths = ctc_beam_decode(log_probs, beam_width=self.beam_width, lengths=lengths)
        else:
            paths = ctc_greedy_decode(log_probs, lengths=lengths)
        return [self.to_text(path) for path in paths]

    def to_text(self, indices: Tensor | list[int]) -> str:
        """The string of class ``indices``: ``k`` is ``alphabet[k - 1]``; blanks (0) dropped."""
        return decode_classes(indices, self.alphabet)

    def _step(self, batch: Any) -> tuple[Tensor, Tensor, Tensor, list[str]]:
        """``(loss, log_probs (B, L, K), lengths (B,), reference strings)`` of a batch."""
        images, targets, target_lengths = self.unpack_batch(batch, _LAYOUTS)
        self._check_targets(targets, target_lengths)
        log_probs, lengths = self._log_probs(images)
        loss = F.ctc_loss(
            rearrange(log_probs, "b l k -> l b k"),  # (L, B, K)
            targets,
            lengths,
            target_lengths,
            blank=0,
            zero_infinity=True,
        )
        references = [self.to_text(t) for t in torch.split(targets, target_lengths.tolist())]
        return loss, log_probs, lengths, references

    def training_step(self, batch: Any, batch_idx: int) -> Tensor:
        loss, log_probs, _, _ = self._step(batch)
        self.log("train/loss", loss, prog_bar=True, batch_size=log_probs.shape[0])
        return loss

    def _evaluate(self, batch: Any, stage: str) -> None:
        loss, log_probs, lengths, references = self._step(batch)
        texts = self.decode(log_probs.detach(), lengths)
        word_acc = self.val_word_acc if stage == "val" else self.test_word_acc
        cer = self.val_cer if stage == "val" else self.test_cer
        word_acc.update(texts, references)
        cer.update(texts, references)
        size = len(references)
        self.log(f"{stage}/loss", loss, prog_bar=stage == "val", batch_size=size, sync_dist=True)
        self.log(f"{stage}/word_acc", word_acc, prog_bar=stage == "val", batch_size=size)
        self.log(f"{stage}/cer", cer, batch_size=size)

    def validation_step(self, batch: Any, batch_idx: int) -> None:
        self._evaluate(batch, "val")

    def test_step(self, batch: Any, batch_idx: int) -> None:
        self._evaluate(batch, "test")

    def predict_step(self, batch: Any, batch_idx: int, dataloader_idx: int = 0) -> list[str]:
        """The strings read from ``images`` or ``(images, targets, target_lengths)``."""
        images = (
            batch
            if isinstance(batch, Tensor)
            else self.unpack_batch(batch, {1: "images", **_LAYOUTS})[0]
        )
        log_probs, lengths = self._log_probs(images)
        return self.decode(log_probs, lengths)
