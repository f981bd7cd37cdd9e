"""The model registry: registering, creating, listing, describing, and the errors on each."""

from __future__ import annotations

import inspect

import pytest
import torch
from torch import nn

from cnnlstm.errors import ConfigError
from cnnlstm.models import CRNN, ConvLSTMForecaster, registry
from cnnlstm.models.registry import (
    check_choice,
    check_ints,
    check_positive_int,
    check_probability,
    create_model,
    list_models,
    model_info,
    register_model,
)

BUILTIN = [
    "clip_classifier",
    "convlstm_ae",
    "convlstm_forecaster",
    "crnn",
    "image_sequence_classifier",
    "mscred",
    "window_cnnlstm",
]


@pytest.fixture
def scratch_registry(monkeypatch: pytest.MonkeyPatch) -> dict[str, object]:
    """A copy of the registry that the test may add to; the real one is restored after."""
    copy = dict(registry._REGISTRY)
    monkeypatch.setattr(registry, "_REGISTRY", copy)
    return copy  # type: ignore[return-value]


def test_builtin_families_are_listed_sorted() -> None:
    assert list_models() == BUILTIN
    assert list_models("*classifier") == ["clip_classifier", "image_sequence_classifier"]
    assert list_models("c?nn") == ["crnn"]
    assert list_models("no_such_*") == []


def test_register_and_create_passes_keyword_arguments(scratch_registry: dict[str, object]) -> None:
    @register_model()
    def scratch_linear(*, features: int = 3, outputs: int = 2) -> nn.Module:
        """A linear layer registered by a test."""
        return nn.Linear(features, outputs)

    assert "scratch_linear" in list_models()
    model = create_model("scratch_linear", outputs=5)
    assert isinstance(model, nn.Linear)
    assert (model.in_features, model.out_features) == (3, 5)

    @register_model("scratch_other_name")
    def whatever(*, size: int = 1) -> nn.Module:
        """Registered under a name of its own."""
        return nn.Linear(size, size)

    assert "scratch_other_name" in list_models() and "whatever" not in list_models()
    # The decorator returns the factory unchanged, so it can still be called directly.
    assert isinstance(whatever(size=2), nn.Linear)


def test_registering_a_name_twice_raises(scratch_registry: dict[str, object]) -> None:
    with pytest.raises(ValueError, match="'crnn', which is already registered"):

        @register_model("crnn")
        def another_crnn(*, size: int = 1) -> nn.Module:
            """Clashes with the built-in crnn."""
            return nn.Identity()

    assert registry._REGISTRY["crnn"].__module__ == "cnnlstm.models.crnn"


def _positional(size: int = 1) -> nn.Module:
    return nn.Identity()


def _untyped(*, size=1) -> nn.Module:  # type: ignore[no-untyped-def]
    return nn.Identity()


def _no_default(*, size: int) -> nn.Module:
    return nn.Identity()


@pytest.mark.parametrize(
    ("factory", "message"),
    [
        (_positional, "keyword-only .* 'size' is not"),
        (_untyped, "typed, but 'size' has no type hint"),
        (_no_default, "given a default, but 'size' has none"),
    ],
)
def test_factories_need_keyword_only_typed_defaults(
    scratch_registry: dict[str, object], factory: object, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        register_model("scratch_bad")(factory)  # type: ignore[type-var]
    assert "scratch_bad" not in scratch_registry


@pytest.mark.parametrize("name", ["", "   ", 3])
def test_register_rejects_bad_names(name: object) -> None:
    with pytest.raises(ValueError, match="name has to be a non-empty string"):
        register_model(name)  # type: ignore[arg-type]


def test_unknown_name_lists_known_models_and_the_closest() -> None:
    with pytest.raises(ConfigError) as info:
        create_model("crn")
    message = str(info.value)
    assert "Unknown model 'crn'" in message
    assert "Did you mean 'crnn'?" in message
    for name in BUILTIN:
        assert name in message
    with pytest.raises(ConfigError, match="Known models: clip_classifier"):
        model_info("zzzz")


def test_unknown_argument_names_it_and_the_accepted_ones() -> None:
    with pytest.raises(ConfigError) as info:
        create_model("crnn", hiden_size=8)
    message = str(info.value)
    assert "unknown argument 'hiden_size'" in message
    assert "Did you mean 'hidden_size'?" in message
    accepted = list(inspect.signature(registry._REGISTRY["crnn"]).parameters)
    assert f"crnn takes: {', '.join(accepted)}." in message


def test_config_error_is_a_value_error() -> None:
    with pytest.raises(ValueError):
        create_model("nope")


def test_model_info_reads_the_factory() -> None:
    for name in BUILTIN:
        factory = registry._REGISTRY[name]
        info = model_info(name)
        assert info.name == name
        assert info.summary == (factory.__doc__ or "").strip().splitlines()[0]
        parameters = inspect.signature(factory).parameters
        assert list(info.defaults) == list(parameters)
        assert info.defaults == {k: p.default for k, p in parameters.items()}
        assert info.signature.startswith("(*, ")
        assert str(info).startswith(f"{name}(*, ")
    # String annotations are resolved, so the choices are readable.
    assert (
        "Literal['temporal', 'convlstm', 'single_frame']" in model_info("clip_classifier").signature
    )


def test_every_builtin_builds_with_its_defaults() -> None:
    # `create_model(name)` alone has to work: the command line starts from the defaults.
    expected_inputs = {
        "clip_classifier": (10, 1, 32, 32),
        "convlstm_forecaster": (10, 1, 64, 64),
        "crnn": (1, 32, 128),
        "image_sequence_classifier": (1, 28, 28),
        "window_cnnlstm": (32, 8),
        "mscred": (32, 8),
        "convlstm_ae": (32, 8),
    }
    for name in BUILTIN:
        model = create_model(name)
        assert model.example_input_shape == expected_inputs[name]
        assert isinstance(model.num_features, int) and model.num_features > 0


def test_created_models_have_the_interface() -> None:
    model = create_model(
        "image_sequence_classifier", image_size=(8, 8), channels=(4,), hidden_size=4
    )
    for attribute in ("forward_features", "forward_head", "num_features", "example_input_shape"):
        assert hasattr(model, attribute)
    x = torch.randn(2, *model.example_input_shape)
    assert model(x).shape == (2, 10)


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: check_choice("f", "bridge", "x", ("a", "b")), "f: bridge has to be one of 'a', "),
        (lambda: check_choice("f", "flag", True, (1, 0)), "has to be one of 1, 0, but got True"),
        (lambda: check_positive_int("f", "size", 0), "f: size has to be a positive int, but got 0"),
        (lambda: check_positive_int("f", "size", True), "but got True"),
        (lambda: check_positive_int("f", "size", 2.0), "but got 2.0"),
        (lambda: check_ints("f", "image_size", (4,), size=2), "has to be 2 positive ints"),
        (lambda: check_ints("f", "image_size", "ab", size=2), "but got 'ab'"),
        (lambda: check_ints("f", "channels", ()), "a non-empty sequence of positive ints"),
        (lambda: check_ints("f", "channels", (4, -1)), r"but got \(4, -1\)"),
        (lambda: check_probability("f", "dropout", 1.0), "probability in \\[0, 1\\)"),
    ],
)
def test_argument_checks_say_what_was_expected(call: object, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        call()  # type: ignore[operator]


def test_argument_checks_pass_good_values() -> None:
    check_choice("f", "bridge", "a", ("a", "b"))
    assert check_positive_int("f", "size", 3) == 3
    assert check_ints("f", "image_size", [4, 5], size=2) == (4, 5)
    assert check_probability("f", "dropout", 0) == 0.0


@pytest.mark.parametrize(
    ("name", "built"),
    [("crnn", CRNN), ("convlstm_forecaster", ConvLSTMForecaster)],
)
def test_a_factory_passes_its_arguments_on_with_the_class_defaults(name: str, built: type) -> None:
    """Factories spell out their signature (model_info and create_model read it); where an
    argument goes to the class unchanged, the two defaults are the same."""
    factory = inspect.signature(registry._REGISTRY[name]).parameters
    shared = {
        key: parameter.default
        for key, parameter in inspect.signature(built).parameters.items()
        if key in factory and parameter.default is not inspect.Parameter.empty
    }
    assert len(shared) >= 5
    assert {key: factory[key].default for key in shared} == shared
    assert isinstance(create_model(name), built)
