"""DataModules: split sizes, no overlap, reproducible splits and shuffles, one batch from each."""

from __future__ import annotations

import inspect
from pathlib import Path

import av
import lightning.pytorch as pl
import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

from cnnlstm.data.datamodules import (
    ArrayDataModule,
    DigitClipsDataModule,
    DigitImagesDataModule,
    MovingDigitsDataModule,
    SensorDataModule,
    TextLinesDataModule,
    VideoDataModule,
    split_sizes,
)
from cnnlstm.errors import DataError

ALL_MODULES = [
    ArrayDataModule,
    DigitClipsDataModule,
    MovingDigitsDataModule,
    SensorDataModule,
    TextLinesDataModule,
    VideoDataModule,
]


@pytest.mark.parametrize(
    ("total", "val", "test", "expected"),
    [
        (100, 0.1, 0.2, (70, 10, 20)),
        (100, 5, 0, (95, 5, 0)),
        (10, 0.01, 0.0, (9, 1, 0)),  # a positive fraction keeps at least one
        (8, 0.25, 3, (3, 2, 3)),
    ],
)
def test_split_sizes(total: int, val: float, test: float, expected: tuple[int, ...]) -> None:
    assert split_sizes(total, val, test) == expected


def test_split_sizes_errors() -> None:
    with pytest.raises(ValueError, match="val_split has to be a fraction"):
        split_sizes(10, 1.5, 0.1)
    with pytest.raises(ValueError, match="test_split has to be a fraction"):
        split_sizes(10, 0.1, -2)
    with pytest.raises(DataError, match="leaving 0 to train on"):
        split_sizes(10, 5, 5)


def test_split_sizes_without_training_items() -> None:
    assert split_sizes(10, 5, 5, min_train=0) == (0, 5, 5)  # evaluating or predicting only
    assert split_sizes(10, 0, 0.999, min_train=0) == (0, 0, 10)
    with pytest.raises(DataError, match=r"take 5 \+ 6 of 10 samples, more than there are"):
        split_sizes(10, 5, 6, min_train=0)
    with pytest.raises(DataError, match="more than there are"):
        split_sizes(10, 5, 6)


@pytest.mark.parametrize("module", ALL_MODULES)
def test_every_option_is_typed_with_a_default(module: type) -> None:
    """LightningCLI builds its options from these signatures."""
    parameters = list(inspect.signature(module.__init__).parameters.values())[1:]
    for parameter in parameters:
        assert parameter.annotation is not inspect.Parameter.empty, parameter.name
        if parameter.kind is inspect.Parameter.KEYWORD_ONLY:
            assert parameter.default is not inspect.Parameter.empty, parameter.name
    for name in ("batch_size", "num_workers", "seed"):
        assert name in {p.name for p in parameters}


# -- videos and frame folders ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def frame_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """3 classes x 4 clips of 6-9 PNG frames; pixel (0, 0) of each frame encodes clip and frame."""
    root = tmp_path_factory.mktemp("clips")
    for c, name in enumerate(["a", "b", "c"]):
        for k in range(4):
            folder = root / name / f"clip{k}"
            folder.mkdir(parents=True)
            for t in range(6 + k):
                image = np.full((8, 10, 3), 10 * t, dtype=np.uint8)
                image[0, 0] = (c, k, t)
                Image.fromarray(image).save(folder / f"{t}.png")
    return root


def clip_ids(batch_x: torch.Tensor) -> list[tuple[int, int]]:
    """(class, clip) of each clip in a batch, read back from pixel (0, 0) of its first frame."""
    codes = (batch_x[:, 0, :, 0, 0] * 255).round().int()
    return [(int(code[0]), int(code[1])) for code in codes]


def test_video_module_splits_by_clip(frame_root: Path) -> None:
    module = VideoDataModule(frame_root, frames=4, val_split=0.25, test_split=2, batch_size=3)
    module.setup("fit")
    splits = module.split_clips
    assert [len(splits[p]) for p in ("train", "val", "test")] == [7, 3, 2]
    assert sorted(splits["train"] + splits["val"] + splits["test"]) == list(range(12))
    assert module.classes == ["a", "b", "c"] and module.num_classes == 3
    seen = {p: set() for p in ("train", "val", "test")}
    for part, loader in (
        ("train", module.train_dataloader()),
        ("val", module.val_dataloader()),
        ("test", module.test_dataloader()),
    ):
        for x, y in loader:
            assert x.shape[1:] == (4, 3, 8, 10) and y.dtype == torch.int64
            for (c, k), label in zip(clip_ids(x), y.tolist(), strict=True):
                assert c == label
                seen[part].add(4 * c + k)
    assert {p: sorted(s) for p, s in seen.items()} == splits
    # the same seed gives the same split and the same shuffled order; another seed does not
    again = VideoDataModule(frame_root, frames=4, val_split=0.25, test_split=2, batch_size=3)
    again.setup("fit")
    assert again.split_clips == splits
    torch.manual_seed(1)
    first = next(iter(module.train_dataloader()))
    torch.manual_seed(1)
    assert torch.equal(next(iter(again.train_dataloader()))[0], first[0])
    other = VideoDataModule(frame_root, frames=4, val_split=0.25, test_split=2, seed=1)
    other.setup("fit")
    assert other.split_clips != splits


def test_video_module_evaluation_windows_are_fixed(frame_root: Path) -> None:
    module = VideoDataModule(
        frame_root, frames=3, sampling="random", eval_sampling="random", val_split=6, batch_size=12
    )
    module.setup("fit")
    first = next(iter(module.val_dataloader()))[0]
    assert torch.equal(first, next(iter(module.val_dataloader()))[0])
    frame_numbers = (first[:, :, 2, 0, 0] * 255).round().int()  # (B, T): blue of pixel (0, 0)
    for row in frame_numbers.tolist():
        assert row == list(range(row[0], row[0] + 3))
    assert len({row[0] for row in frame_numbers.tolist()}) > 1  # windows do start apart


def test_video_module_sliding_windows_stay_in_their_split(frame_root: Path) -> None:
    module = VideoDataModule(
        frame_root, frames=3, sampling="sliding", eval_sampling="sliding", stride=2, seed=3
    )
    module.setup("fit")
    for part in ("train", "val", "test"):
        subset = getattr(module, f"{part}_set")
        clips = {subset.dataset.clip_index[i] for i in subset.indices}
        assert clips == set(module.split_clips[part])
        expected = sum((6 + c % 4 - 3) // 2 + 1 for c in module.split_clips[part])
        assert len(subset) == expected


def test_video_module_whole_clips_are_padded(frame_root: Path) -> None:
    module = VideoDataModule(frame_root, frames=None, batch_size=12, val_split=0, test_split=0)
    module.setup("fit")
    x, lengths, y = next(iter(module.train_dataloader()))
    assert x.shape == (12, 9, 3, 8, 10)
    ids = clip_ids(x)
    assert lengths.tolist() == [6 + k for _, k in ids]
    assert y.tolist() == [c for c, _ in ids]
    assert module.val_dataloader() == []


def test_video_module_reads_videos(tmp_path: Path) -> None:
    for c, name in enumerate(["left", "right"]):
        (tmp_path / name).mkdir()
        for k in range(3):
            with av.open(str(tmp_path / name / f"{k}.mp4"), "w") as container:
                stream = container.add_stream("mpeg4", rate=10)
                stream.width, stream.height = 16, 16
                for t in range(8):
                    image = np.full((16, 16, 3), 20 * t + 60 * c, dtype=np.uint8)
                    frame = av.VideoFrame.from_ndarray(image, format="rgb24")
                    container.mux(stream.encode(frame))
                container.mux(stream.encode())
    module = VideoDataModule(tmp_path, frames=4, size=(8, 8), val_split=1, test_split=1)
    module.setup("fit")
    x, y = next(iter(module.train_dataloader()))
    assert x.shape == (4, 4, 3, 8, 8) and sorted(y.tolist()) == [0, 0, 1, 1]


# -- arrays ---------------------------------------------------------------------------------------


def test_array_module_random_and_ordered(tmp_path: Path) -> None:
    x = np.arange(40, dtype=np.float32).reshape(40, 1) * np.ones((1, 3), np.float32)
    np.save(tmp_path / "x.npy", x)
    np.save(tmp_path / "y.npy", np.arange(40) % 4)
    module = ArrayDataModule(tmp_path / "x.npy", y_path=tmp_path / "y.npy", batch_size=8)
    module.setup()
    parts = [module.train_set.indices, module.val_set.indices, module.test_set.indices]
    assert [len(p) for p in parts] == [32, 4, 4]
    assert sorted(parts[0] + parts[1] + parts[2]) == list(range(40))
    assert parts[1] != list(range(32, 36))  # shuffled before splitting
    batch_x, batch_y = next(iter(module.train_dataloader()))
    assert batch_x.shape == (8, 3)
    assert batch_y.tolist() == [int(v) % 4 for v in batch_x[:, 0].tolist()]
    again = ArrayDataModule(tmp_path / "x.npy", y_path=tmp_path / "y.npy", batch_size=8)
    again.setup()
    assert again.val_set.indices == parts[1]
    assert torch.equal(next(iter(again.train_dataloader()))[0], batch_x)
    ordered = ArrayDataModule(tmp_path / "x.npy", split="ordered", val_split=5, test_split=0.25)
    ordered.setup()
    assert ordered.train_set.indices == list(range(25))
    assert ordered.val_set.indices == list(range(25, 30))
    assert ordered.test_set.indices == list(range(30, 40))
    values = [float(v[0]) for batch in ordered.test_dataloader() for v in batch]
    assert values == [float(v) for v in range(30, 40)]  # test batches keep their order


def test_array_module_predict_path_gives_every_row_in_order(tmp_path: Path) -> None:
    x = np.arange(30, dtype=np.float32).reshape(10, 3)
    np.savez(tmp_path / "train.npz", x=x, y=np.arange(10) % 2)
    np.save(tmp_path / "new.npy", x[::-1] * 10)  # other samples, no labels
    new = tmp_path / "new.npy"
    module = ArrayDataModule(tmp_path / "train.npz", predict_path=new, batch_size=4)
    module.setup("predict")
    batches = list(module.predict_dataloader())
    assert all(isinstance(batch, torch.Tensor) for batch in batches)
    assert torch.equal(torch.cat(batches), torch.from_numpy(x[::-1] * 10))  # all rows, in order
    assert module.num_classes == 2  # the classes still come from path
    assert module.train_set is None  # predicting on predict_path splits nothing
    labelled = ArrayDataModule(tmp_path / "train.npz", predict_path=tmp_path / "train.npz")
    assert torch.equal(next(iter(labelled.predict_dataloader())), torch.from_numpy(x))
    test_split = ArrayDataModule(tmp_path / "train.npz", val_split=0, test_split=3)
    test_split.setup("predict")
    assert test_split.test_set is not None
    rows = list(test_split.test_set.indices)  # type: ignore[attr-defined]
    batch_x, batch_y = next(iter(test_split.predict_dataloader()))  # the test split, labelled
    assert batch_x.tolist() == x[rows].tolist() and batch_y.tolist() == [r % 2 for r in rows]


def test_array_module_needs_training_rows_only_to_train(tmp_path: Path) -> None:
    np.save(tmp_path / "x.npy", np.zeros((6, 2), np.float32))
    module = ArrayDataModule(tmp_path / "x.npy", val_split=1, test_split=5)
    module.setup("test")
    assert module.test_set is not None and len(module.test_set) == 5  # type: ignore[arg-type]
    with pytest.raises(DataError, match=r"x\.npy: the splits take 1 \+ 5 of 6 .* leaving 0"):
        module.setup("fit")
    over = ArrayDataModule(tmp_path / "x.npy", val_split=2, test_split=5)
    with pytest.raises(DataError, match=r"more than there are; .* pass predict_path"):
        over.setup("predict")


@pytest.mark.parametrize("share", [1.0, 1.5, -1, -0.1, True])
def test_array_module_refuses_splits_when_built(tmp_path: Path, share: float) -> None:
    np.save(tmp_path / "x.npy", np.zeros((6, 2), np.float32))
    with pytest.raises(ValueError, match=r"test_split has to be a fraction in \[0, 1\) or an int"):
        ArrayDataModule(tmp_path / "x.npy", test_split=share)
    with pytest.raises(ValueError, match=r"val_split has to be"):
        ArrayDataModule(tmp_path / "x.npy", val_split=share)


# -- sensors --------------------------------------------------------------------------------------


def write_sensor_file(path: Path, rows: int, *, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    values = rng.normal(size=(rows, 3)) * [1.0, 5.0, 0.5] + [0.0, 20.0, -1.0]
    labels = (np.arange(rows) % 17 == 0).astype(int)
    lines = ["datetime,a,b,c,anomaly"]
    for i in range(rows):
        stamp = f"2022-01-01 {i // 3600:02d}:{i // 60 % 60:02d}:{i % 60:02d}"
        lines.append(stamp + "," + ",".join(repr(float(v)) for v in values[i]) + f",{labels[i]}")
    path.write_text("\n".join(lines) + "\n")
    return values


def test_sensor_module_splits_by_time(tmp_path: Path) -> None:
    values = write_sensor_file(tmp_path / "s.csv", 300)
    module = SensorDataModule(
        tmp_path / "s.csv", window=10, stride=3, eval_stride=5, val_split=0.2, test_split=60
    )
    module.setup()
    assert module.row_splits == {"train": (0, 180), "val": (180, 240), "test": (240, 300)}
    assert module.feature_names == ["a", "b", "c"] and module.num_features == 3
    for name, stride in (("train", 3), ("val", 5), ("test", 5)):
        start, stop = module.row_splits[name]
        windows = getattr(module, f"{name}_set")
        assert windows.window_starts.tolist() == list(range(start, stop - 10 + 1, stride))
    # the scaler saw the training rows and nothing else
    assert module.scaler is not None and module.scaler.mean is not None
    for j in range(3):
        column = [values[i, j] for i in range(180)]
        mean = sum(column) / len(column)
        assert abs(module.scaler.mean[j] - mean) < 1e-9
    train = list(module.train_dataloader())
    starts = []
    for x, y in train:
        assert x.shape[1:] == (10, 3) and y.shape[1:] == (10,)
        for window, labels in zip(x, y, strict=True):
            first_value = module.scaler.inverse_transform(window.numpy())[0, 0]
            row = int(np.argmin(np.abs(values[:, 0] - first_value)))  # the window's first row
            starts.append(row)
            assert labels.tolist() == [int((row + k) % 17 == 0) for k in range(10)]
    assert sorted(starts) == list(range(0, 171, 3)) and starts != sorted(starts)
    val_x, _ = next(iter(module.val_dataloader()))
    expected = module.scaler.transform(values[180:190])
    assert np.allclose(val_x[0].numpy(), expected, atol=1e-5)  # in order, not shuffled
    again = SensorDataModule(
        tmp_path / "s.csv", window=10, stride=3, eval_stride=5, val_split=0.2, test_split=60
    )
    again.setup()
    assert torch.equal(next(iter(again.train_dataloader()))[0], train[0][0])


def test_sensor_module_with_a_training_file(tmp_path: Path) -> None:
    normal = write_sensor_file(tmp_path / "normal.csv", 120, seed=1)
    write_sensor_file(tmp_path / "test.csv", 50, seed=2)
    module = SensorDataModule(
        tmp_path / "test.csv", train_path=tmp_path / "normal.csv", window=8, val_split=0.25
    )
    module.setup()
    assert module.row_splits["train"] == (0, 90) and module.row_splits["val"] == (90, 120)
    assert module.scaler is not None and module.scaler.mean is not None
    assert np.allclose(module.scaler.mean, normal[:90].mean(axis=0))
    assert len(module.test_set) == 50 - 8 + 1
    assert module.test_data.path == tmp_path / "test.csv"
    with pytest.raises(
        DataError,
        match=r"normal\.csv \(val split\): rows 115 to 120 are 5 rows, fewer than one window of 8",
    ):
        SensorDataModule(
            tmp_path / "test.csv", train_path=tmp_path / "normal.csv", window=8, val_split=0.04
        ).setup()


def test_sensor_module_runs_in_a_trainer(tmp_path: Path) -> None:
    write_sensor_file(tmp_path / "s.csv", 240)

    class Tiny(pl.LightningModule):
        def __init__(self) -> None:
            super().__init__()
            self.lstm = nn.LSTM(3, 4, batch_first=True)
            self.batches = 0

        def training_step(self, batch: tuple[torch.Tensor, torch.Tensor], _: int) -> torch.Tensor:
            self.batches += 1
            return self.lstm(batch[0])[0].pow(2).mean()

        def validation_step(self, batch: tuple[torch.Tensor, torch.Tensor], _: int) -> None:
            self.log("val_loss", self.lstm(batch[0])[0].pow(2).mean())

        def configure_optimizers(self) -> torch.optim.Optimizer:
            return torch.optim.SGD(self.parameters(), lr=0.01)

    model = Tiny()
    trainer = pl.Trainer(
        fast_dev_run=2,
        accelerator="cpu",
        logger=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        default_root_dir=tmp_path,
    )
    trainer.fit(model, datamodule=SensorDataModule(tmp_path / "s.csv", window=16, batch_size=4))
    assert model.batches == 2


# -- generators -----------------------------------------------------------------------------------


def test_generated_modules_give_disjoint_reproducible_sets() -> None:
    module = DigitClipsDataModule(train_samples=6, val_samples=3, test_samples=3, batch_size=3)
    assert (len(module.train_set), len(module.val_set), len(module.test_set)) == (6, 3, 3)
    assert module.num_classes == 10
    train = [module.train_set[i][0] for i in range(6)]
    for part in (module.val_set, module.test_set):
        for i in range(3):
            assert not any(torch.equal(part[i][0], t) for t in train)
    x, y = next(iter(module.train_dataloader()))
    assert x.shape == (3, 10, 1, 32, 32) and y.shape == (3,)
    again = DigitClipsDataModule(train_samples=6, val_samples=3, test_samples=3, batch_size=3)
    assert torch.equal(next(iter(again.train_dataloader()))[0], x)
    assert torch.equal(
        next(iter(again.val_dataloader()))[0], next(iter(module.val_dataloader()))[0]
    )

    digits = MovingDigitsDataModule(
        train_samples=4, val_samples=2, test_samples=0, canvas_size=32, digit_size=12,
        frames=6, input_frames=4, batch_size=2,
    )  # fmt: skip
    inputs, targets = next(iter(digits.train_dataloader()))
    assert inputs.shape == (2, 4, 1, 32, 32) and targets.shape == (2, 2, 1, 32, 32)
    assert not torch.equal(digits.train_set[0][0], digits.val_set[0][0])
    assert digits.test_dataloader() == []

    text = TextLinesDataModule(train_samples=4, val_samples=2, test_samples=2, batch_size=4)
    images, flat, lengths = next(iter(text.val_dataloader()))
    assert images.shape == (2, 1, 32, 128) and flat.shape == (int(lengths.sum()),)
    assert text.num_classes == 37
    assert {text.train_set.text(i) for i in range(4)}.isdisjoint(
        {text.val_set.text(i) for i in range(2)}
    )
    with pytest.raises(ValueError, match="train_samples has to be a positive int"):
        TextLinesDataModule(train_samples=0)
    with pytest.raises(ValueError, match="batch_size has to be a positive int"):
        DigitClipsDataModule(batch_size=0)


# -- single digit images --------------------------------------------------------------------------

MNIST = Path(__file__).parents[3] / "shared" / "data" / "mnist"


def test_digit_images_module_options_are_typed_with_defaults() -> None:
    test_every_option_is_typed_with_a_default(DigitImagesDataModule)


def test_digit_images_module_splits_and_batches() -> None:
    module = DigitImagesDataModule(
        train_samples=6, val_samples=3, test_samples=2, image_size=20, noise=0.1, batch_size=4
    )
    assert (len(module.train_set), len(module.val_set), len(module.test_set)) == (6, 3, 2)
    assert module.num_classes == 10
    train = [module.train_set[i][0] for i in range(6)]
    for part, size in ((module.val_set, 3), (module.test_set, 2)):
        for i in range(size):
            assert not any(torch.equal(part[i][0], t) for t in train)
    images, labels = next(iter(module.train_dataloader()))
    assert images.shape == (4, 1, 20, 20) and images.dtype == torch.float32
    assert labels.shape == (4,) and labels.dtype == torch.int64
    assert float(images.min()) >= 0.0 and float(images.max()) <= 1.0
    # the batch holds items of the training set, labels with their images
    for image, label in zip(images, labels, strict=True):
        matches = [i for i in range(6) if torch.equal(module.train_set[i][0], image)]
        assert len(matches) == 1 and module.train_set.label(matches[0]) == int(label)
    again = DigitImagesDataModule(
        train_samples=6, val_samples=3, test_samples=2, image_size=20, noise=0.1, batch_size=4
    )
    assert torch.equal(next(iter(again.train_dataloader()))[0], images)
    assert torch.equal(
        next(iter(again.val_dataloader()))[0], next(iter(module.val_dataloader()))[0]
    )
    other = DigitImagesDataModule(train_samples=6, val_samples=3, test_samples=0, seed=1)
    assert not torch.equal(other.train_set[0][0], DigitImagesDataModule().train_set[0][0])
    assert other.test_dataloader() == []
    with pytest.raises(ValueError, match="val_samples has to be a positive int, but got 0"):
        DigitImagesDataModule(val_samples=0)


def test_digit_images_module_keeps_mnist_splits_apart() -> None:
    module = DigitImagesDataModule(
        train_samples=40, val_samples=20, test_samples=20, mnist_root=str(MNIST)
    )
    train = {module.train_set.digit_index(i) for i in range(40)}
    val = {module.val_set.digit_index(i) for i in range(20)}
    test = {module.test_set.digit_index(i) for i in range(20)}
    assert len(train) == 40 and len(val) == 20 and len(test) == 20
    assert train.isdisjoint(val) and max(train | val) < 8000 <= min(test)
    with pytest.raises(ValueError, match="at most 8000"):
        DigitImagesDataModule(train_samples=7990, val_samples=20, mnist_root=str(MNIST))


def test_array_module_counts_integer_classes_and_refuses_negative_labels(tmp_path: Path) -> None:
    path = tmp_path / "labels.npz"
    np.savez(path, x=np.zeros((12, 2, 3), np.float32), y=np.array([0, 3, 1] * 4))
    module = ArrayDataModule(path, batch_size=4)
    module.setup()
    assert module.num_classes == 4  # the largest label + 1
    np.savez(path, x=np.zeros((12, 2, 3), np.float32), y=np.array([0, -1, 1] * 4))
    with pytest.raises(DataError, match=r"labels\.npz: class labels have to be >= 0, .* is -1"):
        ArrayDataModule(path, batch_size=4).setup()


@pytest.mark.parametrize(
    "module", ["ArrayDataModule", "SensorDataModule", "TextLineDataModule", "VideoDataModule"]
)
def test_a_split_count_on_the_command_line_stays_an_int(module: str) -> None:
    """A count (``--data.init_args.test_split 5``) reaches the module as an int, not 5.0, which
    the split would read as a fraction out of range."""
    from jsonargparse import ArgumentParser

    import cnnlstm.data

    parser = ArgumentParser(exit_on_error=False)
    parser.add_class_arguments(getattr(cnnlstm.data, module), "data", skip={"path", "root"})
    parsed = parser.parse_args(["--data.test_split", "5", "--data.val_split", "0.2"])
    assert parsed.data.test_split == 5 and isinstance(parsed.data.test_split, int)
    assert parsed.data.val_split == 0.2


def test_array_predict_without_a_predict_path_or_a_test_split_says_so(tmp_path: Path) -> None:
    np.save(tmp_path / "x.npy", np.zeros((20, 3), np.float32))
    module = ArrayDataModule(tmp_path / "x.npy", y_path=None, test_split=0)
    with pytest.raises(DataError, match="nothing to predict on: predict_path is not set") as caught:
        module.predict_dataloader()
    assert "--data.init_args.predict_path FILE, or a test_split above 0" in str(caught.value)
    every = ArrayDataModule(tmp_path / "x.npy", test_split=0, predict_path=tmp_path / "x.npy")
    assert sum(len(batch) for batch in every.predict_dataloader()) == 20
