"""The anomaly-detection model families: shapes, gradients, causality, streaming, signatures."""

from __future__ import annotations

import inspect
from typing import Any

import numpy as np
import pytest
import torch

from cnnlstm.errors import ShapeError
from cnnlstm.models import detectors as anomaly
from cnnlstm.models import signatures as mscred_module
from cnnlstm.models.detectors import WindowCNNLSTM
from cnnlstm.models.registry import create_model, list_models
from cnnlstm.models.signatures import MSCRED, signature_matrices

FAMILIES = ("window_cnnlstm", "mscred", "convlstm_ae")
SMALL: dict[str, dict[str, Any]] = {
    "window_cnnlstm": {"channels": (4, 4), "hidden_size": 8},
    "mscred": {"scales": (3, 6), "steps": 3, "gap": 2, "channels": 4},
    "convlstm_ae": {"hidden_channels": 4},
}


def build(name: str, *, sensors: int = 5, window: int = 12) -> Any:
    return create_model(name, n_sensors=sensors, window=window, **SMALL[name])


def test_families_are_registered() -> None:
    assert set(FAMILIES) <= set(list_models())
    assert anomaly.DETECTOR_FAMILIES == FAMILIES  # the default first


@pytest.mark.parametrize(
    ("factory", "built"),
    [
        (anomaly.window_cnnlstm, anomaly.WindowCNNLSTM),
        (mscred_module.mscred, mscred_module.MSCRED),
        (anomaly.convlstm_ae, anomaly.ConvLSTMAutoencoder),
    ],
)
def test_a_factory_passes_its_arguments_on_with_the_class_defaults(
    factory: Any, built: type
) -> None:
    """Each factory spells out the class's arguments (the registry reads them); the defaults
    are the same, so they cannot drift apart."""
    ours = inspect.signature(factory).parameters
    theirs = inspect.signature(built).parameters
    assert list(ours) == list(theirs)
    assert {k: p.default for k, p in ours.items()} == {k: p.default for k, p in theirs.items()}


@pytest.mark.parametrize("name", FAMILIES)
def test_shapes_gradients_and_state_dict(name: str) -> None:
    model = build(name)
    assert model.example_input_shape == (12, 5)
    x = torch.randn(3, 12, 5)
    errors = model.errors(x)
    expected = (3, 11, 5) if model.causal else (3, 5)
    assert errors.shape == expected
    assert torch.isfinite(errors).all() and (errors >= 0).all()
    model.loss(x).backward()
    for pname, parameter in model.named_parameters():
        assert parameter.grad is not None and parameter.grad.abs().sum() > 0, pname

    clone = build(name)
    clone.load_state_dict(model.state_dict())
    with torch.no_grad():
        torch.testing.assert_close(clone.errors(x), model.errors(x))
    assert type(model).__name__ in repr(model)


@pytest.mark.parametrize("name", FAMILIES)
def test_wrong_number_of_sensors_is_a_shape_error(name: str) -> None:
    model = build(name)
    with pytest.raises(ShapeError, match=r"S=5 sensors.*\(3, 12, 4\)"):
        model.errors(torch.randn(3, 12, 4))


@pytest.mark.parametrize(
    ("name", "kwargs", "message"),
    [
        ("window_cnnlstm", {"kernel_sensors": 2}, "kernel_sensors has to be odd"),
        ("window_cnnlstm", {"window": 1}, "window has to be at least 2"),
        ("window_cnnlstm", {"channels": ()}, "channels has to be"),
        ("mscred", {"window": 20}, r"window has to be at least .* = 32"),
        ("convlstm_ae", {"hidden_channels": 0}, "hidden_channels has to be a positive int"),
    ],
)
def test_bad_arguments(name: str, kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        create_model(name, **kwargs)


def test_window_cnnlstm_is_causal() -> None:
    torch.manual_seed(0)
    model = WindowCNNLSTM(n_sensors=4, window=16, channels=(3, 3, 3), kernel_time=3)
    x = torch.randn(1, 40, 4)
    changed = x.clone()
    changed[0, 25] += 5.0
    with torch.no_grad():
        before, after = model(x), model(changed)
        conv_before, conv_after = model.conv_sequence(x), model.conv_sequence(changed)
    # Predictions made from rows <= t for t < 25 do not see row 25; step 25 does. Bitwise: a
    # convolution's output reads only its receptive field, so earlier steps get the same numbers.
    torch.testing.assert_close(before[0, :25], after[0, :25], rtol=0, atol=0)
    assert (before[0, 25] - after[0, 25]).abs().max() > 1e-5
    # The conv stack sees exactly receptive_field = 3 * 2 + 1 = 7 rows: row 25 moves steps 25..31.
    assert model.receptive_field == 7
    moved = (conv_before - conv_after).abs().amax(dim=(0, 2)) > 0  # (L,)
    assert moved.nonzero().flatten().tolist() == list(range(25, 32))


def test_window_cnnlstm_steps_equal_the_offline_pass() -> None:
    model = WindowCNNLSTM(n_sensors=5, window=16, channels=(4, 4), hidden_size=8).eval()
    x = torch.randn(2, 30, 5)
    state = None
    stepped = []
    with torch.no_grad():
        for t in range(x.shape[1]):
            recent = x[:, max(0, t + 1 - model.receptive_field) : t + 1]
            prediction, state = model.step(recent, state)
            stepped.append(prediction)
        offline = model.predict_next(x)
    torch.testing.assert_close(torch.stack(stepped, dim=1), offline, atol=1e-5, rtol=1e-5)


def test_window_cnnlstm_errors_are_next_row_squared_errors() -> None:
    model = WindowCNNLSTM(n_sensors=3, window=8, channels=(2,), hidden_size=4)
    x = torch.randn(2, 10, 3)
    with torch.no_grad():
        errors = model.errors(x)
        for t in range(1, 10):  # the prediction of row t from rows 0..t-1 alone
            prediction = model.predict_next(x[:, :t])[:, -1]
            torch.testing.assert_close(errors[:, t - 1], (prediction - x[:, t]) ** 2)


def test_signature_matrices_match_a_loop() -> None:
    rng = np.random.default_rng(1)
    x = rng.normal(size=(2, 20, 4))
    scales, steps, gap = (3, 5), 3, 4
    got = signature_matrices(torch.from_numpy(x), scales=scales, steps=steps, gap=gap).numpy()
    assert got.shape == (2, steps, len(scales), 4, 4)
    for b in range(2):
        for step in range(steps):
            end = 20 - (steps - 1 - step) * gap  # the moment's last row is end - 1
            for k, w in enumerate(scales):
                for i in range(4):
                    for j in range(4):
                        total = sum(x[b, end - 1 - d, i] * x[b, end - 1 - d, j] for d in range(w))
                        assert got[b, step, k, i, j] == pytest.approx(total / w)
    with pytest.raises(ShapeError, match="W >= max"):
        signature_matrices(torch.zeros(1, 10, 4), scales=(5,), steps=3, gap=4)


def test_centred_signature_matrices_are_covariances_of_a_loop() -> None:
    rng = np.random.default_rng(2)
    x = rng.normal(size=(1, 16, 3)) + np.array([5.0, -3.0, 0.5])  # levels far from zero
    scales, steps, gap = (4, 6), 2, 3
    got = signature_matrices(
        torch.from_numpy(x), scales=scales, steps=steps, gap=gap, center=True
    ).numpy()
    for step in range(steps):
        end = 16 - (steps - 1 - step) * gap
        for k, w in enumerate(scales):
            rows = x[0, end - w : end]
            means = [sum(rows[d, i] for d in range(w)) / w for i in range(3)]
            for i in range(3):
                for j in range(3):
                    total = sum((rows[d, i] - means[i]) * (rows[d, j] - means[j]) for d in range(w))
                    assert got[0, step, k, i, j] == pytest.approx(total / w)
    # a level shift of every sensor leaves centred matrices alone, not the paper's inner products
    shifted = torch.from_numpy(x + 7.0)
    for center, same in ((True, True), (False, False)):
        a = signature_matrices(
            torch.from_numpy(x), scales=scales, steps=steps, gap=gap, center=center
        )
        b = signature_matrices(shifted, scales=scales, steps=steps, gap=gap, center=center)
        assert torch.allclose(a, b, atol=1e-9) is same


@pytest.mark.parametrize("center", [True, False])
def test_convlstm_ae_reconstructs_centred_windows(center: bool) -> None:
    torch.manual_seed(0)
    model = create_model("convlstm_ae", n_sensors=4, window=10, hidden_channels=3, center=center)
    x = torch.randn(2, 10, 4)
    offset = torch.tensor([3.0, -2.0, 1.0, 0.5])  # one level per sensor
    with torch.no_grad():
        errors, shifted = model.errors(x), model.errors(x + offset)
        expected_target = x - x.mean(dim=1, keepdim=True) if center else x
        by_hand = ((model(x) - expected_target) ** 2).mean(dim=1)
    torch.testing.assert_close(errors, by_hand)
    assert torch.allclose(errors, shifted, atol=1e-5) is center


@pytest.mark.parametrize(
    "kwargs",
    [
        {},
        {"channels": (3, 5, 4), "kernel_time": 4, "kernel_sensors": 5, "hidden_size": 7},
        {"channels": (2,), "kernel_sensors": 1, "num_layers": 2, "hidden_size": 6},
    ],
)
def test_row_stepper_equals_the_offline_pass(kwargs: dict[str, Any]) -> None:
    torch.manual_seed(0)
    model = WindowCNNLSTM(n_sensors=6, window=16, **kwargs).eval()
    x = torch.randn(1, 40, 6)
    with torch.no_grad():
        offline = model.predict_next(x)[0].numpy()  # torch's conv, LSTM and head
    stepper = model.stepper()
    rows = x[0].numpy()
    stepped = np.stack([stepper.update(row).copy() for row in rows])
    np.testing.assert_allclose(stepped, offline, rtol=1e-5, atol=1e-5)
    stepper.reset()  # a fresh stream starts from the past padding again
    np.testing.assert_allclose(stepper.update(rows[0]), offline[0], rtol=1e-5, atol=1e-5)
    with pytest.raises(ShapeError, match=r"S=6 sensors, got shape \(5\)"):
        stepper.update(rows[0, :5])


def test_row_stepper_returns_a_new_array_each_row() -> None:
    # the stepper works in buffers it reuses; what it returns must not be one of them
    torch.manual_seed(0)
    stepper = WindowCNNLSTM(n_sensors=4, window=8).eval().stepper()
    rows = np.random.default_rng(0).normal(size=(3, 4)).astype(np.float32)
    first = stepper.update(rows[0])
    kept = first.copy()
    second = stepper.update(rows[1])
    np.testing.assert_array_equal(first, kept)
    assert not np.shares_memory(first, second)


def test_mscred_errors_are_residuals_of_the_last_signatures() -> None:
    model = MSCRED(n_sensors=4, window=12, scales=(3, 6), steps=3, gap=2, channels=4)
    x = torch.randn(2, 12, 4)
    with torch.no_grad():
        target = signature_matrices(x, scales=(3, 6), steps=3, gap=2, center=True)[:, -1]
        residual = (model(x) - target) ** 2  # (B, 2, 4, 4)
        errors = model.errors(x)
    for i in range(4):  # sensor i: its row and column of every scale's residual matrix
        expected = (
            residual[:, :, i, :].mean(dim=(1, 2)) + residual[:, :, :, i].mean(dim=(1, 2))
        ) / 2
        torch.testing.assert_close(errors[:, i], expected)


def test_module_exports_exist() -> None:
    for name in anomaly.__all__:
        assert hasattr(anomaly, name)
