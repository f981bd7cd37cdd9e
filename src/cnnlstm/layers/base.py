"""The interface every bridge shares: a module that knows its output shape before it sees data."""

from __future__ import annotations

from collections.abc import Sequence

from torch import nn

__all__ = ["Bridge"]


class Bridge(nn.Module):
    """Base class of the layers that turn CNN feature maps into sequences for a recurrent layer.

    A bridge maps ``(B, C, H, W)`` (or ``(B, T, C, H, W)`` where it makes sense) to
    ``(B, L, F)``. Subclasses implement :meth:`output_shape` so that a model builder can size
    the recurrent layer from the input shape alone, without running data through the network.
    """

    def output_shape(self, input_shape: Sequence[int]) -> tuple[int, ...]:
        """Return the output shape for an input of ``input_shape`` (batch axis included).

        Raises:
            ShapeError: when the layer cannot take an input of this shape.
        """
        raise NotImplementedError

    def out_features(self, input_shape: Sequence[int]) -> int:
        """``F``: the features per step that the recurrent layer after this bridge receives."""
        return int(self.output_shape(input_shape)[-1])
