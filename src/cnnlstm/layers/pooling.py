"""Global pooling bridge: one feature vector per feature map (or per frame of a clip)."""

from __future__ import annotations

from collections.abc import Sequence

from torch import Tensor, nn

from cnnlstm.functional import (
    POOL_STEPS,
    POOLS,
    PoolName,
    StepsName,
    check_choice,
    pool_output_shape,
    pool_to_sequence,
)
from cnnlstm.layers.base import Bridge

__all__ = ["GlobalPoolBridge"]


class GlobalPoolBridge(Bridge):
    """Pool CNN feature maps over their positions into a sequence for a recurrent layer.

    Use it where what a feature map holds matters more than where: after a ``TimeDistributed``
    CNN each frame becomes one step, ``(B, T, C, H, W) -> (B, T, C)``; a single feature map
    becomes one step, ``(B, 1, C)``, or with ``steps="channels"`` its channels become the steps,
    ``(B, C, 1)``. ``pool="avgmax"`` doubles the features (averages first, then maxima).

    ``pool="attention"`` learns where to look: a 1x1 convolution (no bias: a softmax ignores a
    constant) scores each of the ``H*W`` positions, a softmax over positions turns the scores
    into weights, and each channel is the weighted sum of its positions. The scoring weight
    starts at zero, so an untrained attention bridge is an average pool.

    Args:
        pool: ``"avg"``, ``"max"``, ``"avgmax"`` or ``"attention"``.
        steps: ``"single"`` (one step of ``C`` or ``2C`` features) or ``"channels"`` (``C``
            steps of 1 or 2 features; 4-D input only).
        channels: ``C`` of the input; required by ``"attention"`` (it sizes the scoring
            convolution), and checked against the input when given for any pool.

    Raises:
        ValueError: an unknown ``pool`` or ``steps``, or a missing or non-positive ``channels``
            for ``"attention"``.

    Example:
        >>> import torch
        >>> GlobalPoolBridge("avgmax")(torch.randn(8, 64, 7, 7)).shape
        torch.Size([8, 1, 128])
        >>> GlobalPoolBridge("attention", channels=64)(torch.randn(2, 10, 64, 7, 7)).shape
        torch.Size([2, 10, 64])
        >>> GlobalPoolBridge("max", steps="channels").output_shape((8, 64, 7, 7))
        (8, 64, 1)
    """

    def __init__(
        self,
        pool: PoolName = "avg",
        steps: StepsName = "single",
        *,
        channels: int | None = None,
    ) -> None:
        super().__init__()
        check_choice("pool", pool, POOLS, "GlobalPoolBridge")
        check_choice("steps", steps, POOL_STEPS, "GlobalPoolBridge")
        if channels is not None and (
            isinstance(channels, bool) or not isinstance(channels, int) or channels < 1
        ):
            raise ValueError(
                f"GlobalPoolBridge: channels has to be a positive int (the C of the input), "
                f"but got {channels!r}."
            )
        if pool == "attention" and channels is None:
            raise ValueError(
                "GlobalPoolBridge: channels has to be given for pool='attention' (it sizes the "
                "1x1 scoring convolution: pass the out_channels of the CNN's last layer), but "
                "got None."
            )
        self.pool: PoolName = pool
        self.steps: StepsName = steps
        self.channels = channels
        self.score: nn.Conv2d | None = None
        if pool == "attention" and channels is not None:
            self.score = nn.Conv2d(channels, 1, kernel_size=1, bias=False)
            nn.init.zeros_(self.score.weight)

    def output_shape(self, input_shape: Sequence[int]) -> tuple[int, ...]:
        """``(B, 1, F)``, ``(B, C, 1 | 2)`` or ``(B, T, F)`` for an input of ``input_shape``.

        Raises:
            ShapeError: the input is not ``(B, C, H, W)`` or ``(B, T, C, H, W)``, a clip with
                ``steps="channels"``, or ``C`` differs from ``channels``.
        """
        return pool_output_shape(
            input_shape,
            pool=self.pool,
            steps=self.steps,
            channels=self.channels,
            who=f"GlobalPoolBridge({self.extra_repr()})",
        )

    def forward(self, x: Tensor) -> Tensor:
        """Pool ``x``: ``(B, C, H, W)`` or ``(B, T, C, H, W)`` to ``(B, L, F)``."""
        self.output_shape(x.shape)
        weight = self.score.weight if self.score is not None else None
        return pool_to_sequence(x, pool=self.pool, steps=self.steps, weight=weight)

    def extra_repr(self) -> str:
        settings = f"pool={self.pool!r}, steps={self.steps!r}"
        if self.channels is not None:
            settings += f", channels={self.channels}"
        return settings
