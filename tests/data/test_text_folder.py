"""Tests for cnnlstm.data.text_folder: reading a folder of line images and a labels file,
resizing, the alphabet, each bad input, and the text_folder config run by the command line."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from PIL import Image
from torch.utils.data import Subset

from cnnlstm import cli
from cnnlstm.commands.configs import CONFIGS_DIR
from cnnlstm.data.text_folder import TextLineDataModule, TextLineFolder
from cnnlstm.data.text_lines import TextLines
from cnnlstm.errors import ConfigError, DataError

CONFIG = CONFIGS_DIR / "text_folder.yaml"
SHORT = [
    "--trainer.max_steps=2",
    "--trainer.limit_val_batches=1",
    "--trainer.enable_progress_bar=false",
    "--trainer.enable_model_summary=false",
    "--data.init_args.batch_size=2",
]


def write_text_line_folder(root: Path, samples: int, *, seed: int = 0) -> TextLines:
    """A folder of generated lines: line<i>.png and labels.tsv (what the config says to run)."""
    lines = TextLines(num_samples=samples, seed=seed)
    root.mkdir(parents=True)
    with open(root / "labels.tsv", "w", encoding="utf-8") as labels:
        for i in range(len(lines)):
            Image.fromarray(np.uint8(lines.image(i) * 255)).save(root / f"line{i}.png")
            labels.write(f"line{i}.png\t{lines.text(i)}\n")
    return lines


def _save(root: Path, name: str, pixels: np.ndarray) -> None:
    Image.fromarray(pixels).save(root / name)


def _labels(root: Path, text: str, name: str = "labels.tsv") -> Path:
    path = root / name
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture
def paper(tmp_path: Path) -> Path:
    """Three dark-on-light lines of known pixels and their labels."""
    rng = np.random.default_rng(0)
    for i, width in enumerate((42, 40, 80)):
        pixels = np.full((20, width), 230, dtype=np.uint8)
        pixels[5:15, 2 : width - 2] = rng.integers(0, 60, (10, width - 4), dtype=np.uint8)
        _save(tmp_path, f"l{i}.png", pixels)
    _labels(tmp_path, "l0.png\tab c\r\nl1.png\tcab\n\nl2.png\tba\n")
    return tmp_path


# --- reading, resizing, alphabet -----------------------------------------------------------


def test_reads_grey_lines_as_bright_ink_padded_to_a_multiple_of_four(paper: Path) -> None:
    data = TextLineFolder(paper, height=20)
    assert len(data) == 3 and data.texts == ["ab c", "cab", "ba"]
    assert data.alphabet == " abc" and data.num_classes == 5
    for i, width in enumerate((42, 40, 80)):
        raw = np.asarray(Image.open(paper / f"l{i}.png"), dtype=np.float64)
        image, target = data[i]
        assert image.dtype == torch.float32 and image.shape == (1, 20, -(-width // 4) * 4)
        # height 20 is the file's: no resampling, only the inversion to bright ink
        expected = 1.0 - raw / 255.0
        assert np.allclose(image[0, :, :width].numpy(), expected, atol=1e-6)
        assert image[0, :, width:].abs().sum() == 0  # padding is background
        assert data.decode(target) == data.texts[i]
    assert data[0][1].tolist() == [2, 3, 1, 4]  # ' ' is class 1, 'a' 2, 'b' 3, 'c' 4
    assert data[-1][1].tolist() == [3, 2]


@pytest.mark.parametrize(
    ("size", "height", "width", "expected"),
    [
        ((100, 50), 32, None, 64),  # 100 * 32 / 50 = 64
        ((101, 50), 32, None, 68),  # 64.6 -> 65, padded to 68
        ((10, 60), 32, None, 8),  # 5.3 -> 5, padded to 8
        ((3, 400), 16, None, 4),  # at least one column
        ((100, 50), 32, 128, 128),  # padded to the given width
        ((400, 50), 32, 128, 128),  # squeezed into it
    ],
)
def test_height_is_fixed_and_the_width_follows_the_aspect_ratio(
    tmp_path: Path, size: tuple[int, int], height: int, width: int | None, expected: int
) -> None:
    w, h = size
    pixels = np.zeros((h, w), dtype=np.uint8)
    pixels[:, : w // 2] = 200  # bright left half on a dark right half: bright ink kept
    _save(tmp_path, "a.png", pixels)
    _labels(tmp_path, "a.png\tx\n")
    image = TextLineFolder(tmp_path, height=height, width=width)[0][0]
    assert image.shape == (1, height, expected)
    resized = min(max(1, round(w * height / h)), width or 10**9)
    assert image[0, :, resized:].abs().sum() == 0
    if resized >= 8:  # the middle of each half keeps its grey value
        assert torch.allclose(image[0, :, resized // 8], torch.tensor(200 / 255), atol=0.02)
        assert torch.allclose(image[0, :, resized - 1 - resized // 8], torch.tensor(0.0), atol=0.02)


def test_resizing_keeps_a_smooth_line_smooth(tmp_path: Path) -> None:
    """A horizontal ramp halved in size is the ramp sampled at the new columns' centres."""
    ramp = np.tile(np.linspace(0, 100, 128), (64, 1)).astype(np.uint8)  # dark: no inversion
    _save(tmp_path, "r.png", ramp)
    _labels(tmp_path, "r.png\tx\n")
    image = TextLineFolder(tmp_path, height=32, ink="light")[0][0]
    assert image.shape == (1, 32, 64)
    centres = np.interp(np.arange(64) * 2 + 0.5, np.arange(128), ramp[0].astype(np.float64))
    # away from the ends, where the filter runs out of pixels
    assert np.allclose(image[0, 16, 4:-4].numpy(), centres[4:-4] / 255, atol=1.5 / 255)


def test_ink_auto_dark_and_light(tmp_path: Path) -> None:
    bright_ink = np.zeros((16, 32), dtype=np.uint8)
    bright_ink[6:10, 4:28] = 255
    _save(tmp_path, "light.png", bright_ink)
    _save(tmp_path, "dark.png", 255 - bright_ink)
    _labels(tmp_path, "light.png\tx\ndark.png\tx\n")
    auto = TextLineFolder(tmp_path, height=16)
    assert torch.equal(auto[0][0], auto[1][0])  # both as bright ink
    assert auto[0][0][0, 8, 10] == 1.0 and auto[0][0][0, 0, 0] == 0.0
    dark = TextLineFolder(tmp_path, height=16, ink="dark")
    assert torch.equal(dark[1][0], auto[1][0]) and torch.equal(dark[0][0], 1 - auto[0][0])
    light = TextLineFolder(tmp_path, height=16, ink="light")
    assert torch.equal(light[0][0], auto[0][0]) and torch.equal(light[1][0], 1 - auto[1][0])


def test_colour_palette_transparent_and_16_bit_images_become_grey(tmp_path: Path) -> None:
    rgb = np.zeros((8, 8, 3), dtype=np.uint8)
    rgb[..., 0], rgb[..., 1], rgb[..., 2] = 10, 40, 90
    _save(tmp_path, "rgb.png", rgb)
    Image.fromarray(rgb).convert("P", palette=Image.Palette.ADAPTIVE).save(tmp_path / "palette.png")
    rgba = np.zeros((8, 8, 4), dtype=np.uint8)  # transparent black, one opaque black column
    rgba[:, 3, 3] = 255
    _save(tmp_path, "alpha.png", rgba)
    Image.fromarray(np.full((8, 8), 1000, dtype=np.uint16)).save(tmp_path / "deep.png")
    _labels(tmp_path, "rgb.png\tx\npalette.png\tx\nalpha.png\tx\ndeep.png\tx\n")
    data = TextLineFolder(tmp_path, height=8, ink="light")
    assert Image.open(tmp_path / "deep.png").mode.startswith("I")
    luma = (299 * 10 + 587 * 40 + 114 * 90) / 1000 / 255  # ITU-R 601, Pillow's "L"
    assert torch.allclose(data[0][0], torch.tensor(luma), atol=1 / 255)
    assert Image.open(tmp_path / "palette.png").mode == "P"
    assert torch.allclose(data[1][0], torch.tensor(luma), atol=1 / 255)
    alpha = data[2][0][0]  # transparent pixels are white paper
    assert alpha[:, 3].eq(0).all() and alpha[:, [0, 1, 2, 4, 5, 6, 7]].eq(1).all()
    assert torch.allclose(data[3][0], torch.tensor(1000 / 65535), atol=1e-6)


def test_a_given_alphabet_sets_the_classes(paper: Path) -> None:
    data = TextLineFolder(paper, height=20, alphabet="cba xyz")
    assert data.num_classes == 8
    assert data[1][1].tolist() == [1, 3, 2]  # 'c' 'a' 'b'
    data.set_alphabet(" abcd")
    assert data[1][1].tolist() == [4, 2, 3]
    with pytest.raises(ValueError, match="alphabet has to hold each character once"):
        TextLineFolder(paper, alphabet="abca ")


def test_csv_labels_with_a_header_and_quoted_commas(paper: Path) -> None:
    labels = 'id,file,text\n1,l2.png,"b, a"\n2,l0.png,"a\nb"\n3,l1.png,abc\n'
    _labels(paper, labels, "labels.csv")
    data = TextLineFolder(paper, labels="labels.csv", height=20)
    assert [p.name for p in data.files] == ["l2.png", "l0.png", "l1.png"]
    assert data.texts == ["b, a", "a\nb", "abc"] and data.alphabet == "\n ,abc"
    _labels(paper, "id,file,text\n1,l2.png\n", "short.csv")
    with pytest.raises(DataError, match=r"short.csv line 2: expected 3 comma-separated"):
        TextLineFolder(paper, labels="short.csv")


def test_unlabelled_folder_in_natural_order(tmp_path: Path) -> None:
    for name in ("line10.png", "line2.jpg", "line1.tif", ".hidden.png", "notes.txt"):
        if name.endswith(".txt"):
            (tmp_path / name).write_text("x")
        else:
            _save(tmp_path, name, np.zeros((8, 8, 3), dtype=np.uint8))
    data = TextLineFolder(tmp_path, labels=None, height=8)
    assert [p.name for p in data.files] == ["line1.tif", "line2.jpg", "line10.png"]
    assert data.texts == [None, None, None] and data[2][1].shape == (0,)


def test_collate_pads_each_batch_to_its_widest_line(paper: Path) -> None:
    data = TextLineFolder(paper, height=20)
    images, targets, lengths = TextLineFolder.collate([data[0], data[2]])
    assert images.shape == (2, 1, 20, 80)
    assert torch.equal(images[0, :, :, :44], data[0][0]) and images[0, :, :, 44:].eq(0).all()
    assert targets.tolist() == data[0][1].tolist() + data[2][1].tolist()
    assert lengths.tolist() == [4, 2]
    fixed = TextLineFolder(paper, height=20, width=64)
    same = TextLines.collate([fixed[0], fixed[1]])  # one width: TextLines' own collate works
    assert same[0].shape == (2, 1, 20, 64)


# --- bad input -------------------------------------------------------------------------------


def _error(root: Path, **kwargs: object) -> str:
    with pytest.raises(DataError) as info:
        data = TextLineFolder(root, **kwargs)  # type: ignore[arg-type]
        data[len(data) - 1]
    return str(info.value)


def test_missing_root_and_labels_file(tmp_path: Path) -> None:
    assert "root" in _error(tmp_path / "nowhere") and "does not exist" in _error(tmp_path / "no")
    message = _error(tmp_path)
    assert f"{tmp_path / 'labels.tsv'} does not exist" in message
    assert "filename<TAB>text" in message
    assert "holds no line images" in _error(tmp_path, labels=None)


def test_a_line_without_a_tab(paper: Path) -> None:
    _labels(paper, "l0.png\tab\nl1.png cab\n")
    message = _error(paper)
    assert message.startswith(f"{paper / 'labels.tsv'} line 2: expected 'filename<TAB>text'")
    assert "'l1.png cab'" in message


def test_a_missing_image(paper: Path) -> None:
    _labels(paper, "l0.png\tab\n\nl9.png\tcab\n")
    message = _error(paper)
    assert message.startswith(f"{paper / 'labels.tsv'} line 3: the image 'l9.png' does not exist")
    assert str(paper / "l9.png") in message
    _labels(paper, "file\ttext\n")
    assert "(the labels file has no header line)" in _error(paper)


def test_an_unreadable_image(paper: Path) -> None:
    (paper / "l1.png").write_text("not an image")
    message = _error(paper)
    assert message.startswith(f"{paper / 'l1.png'} ({paper / 'labels.tsv'} line 2): cannot read")


def test_a_truncated_image_fails_when_read_naming_it(paper: Path) -> None:
    data = (paper / "l2.png").read_bytes()
    (paper / "l2.png").write_bytes(data[: len(data) // 2])
    message = _error(paper)  # the header opens: it is the pixels that are missing
    assert message.startswith(f"{paper / 'l2.png'} ({paper / 'labels.tsv'} line 4): cannot read")
    assert "truncated or damaged" in message


def test_an_empty_text(paper: Path) -> None:
    _labels(paper, "l0.png\tab\nl1.png\t  \n")
    assert _error(paper).startswith(f"{paper / 'labels.tsv'} line 2: the text of 'l1.png' is empty")


def test_an_image_of_a_mode_without_a_grey_reading(paper: Path) -> None:
    Image.fromarray(np.zeros((8, 8), dtype=np.float32)).save(paper / "float.tif")
    _labels(paper, "float.tif\tab\n")
    message = _error(paper)
    assert message.startswith(f"{paper / 'float.tif'} ({paper / 'labels.tsv'} line 1)")
    assert "mode is 'F'" in message and "8-bit grey or RGB" in message


def test_a_character_outside_the_given_alphabet(paper: Path) -> None:
    _labels(paper, "l0.png\tab\nl1.png\tcAb\nl2.png\tbé\n")
    message = _error(paper, alphabet="abc")
    assert message.startswith(f"{paper / 'labels.tsv'} line 2 (l1.png): the text 'cAb' has 'A'")
    assert "2 characters outside it: 'Aé'" in message


def test_listed_twice_not_utf8_and_no_lines(paper: Path) -> None:
    _labels(paper, "l0.png\tab\nl0.png\tba\n")
    assert "line 2: 'l0.png' is listed twice (lines 1 and 2)" in _error(paper)
    (paper / "labels.tsv").write_bytes("l0.png\tab\nl1.png\tca\xefb\n".encode("latin-1"))
    assert "line 2: the labels file has to be UTF-8" in _error(paper)
    _labels(paper, "\n\n")
    assert "holds no lines" in _error(paper)
    _labels(paper, "a,b\n", "labels.csv")
    assert "header naming the columns 'file' and 'text'" in _error(paper, labels="labels.csv")


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"height": 0}, "height has to be a positive int, but got 0"),
        ({"width": 0}, "width has to be a positive int or None, but got 0"),
        ({"width_multiple": 0}, "width_multiple has to be a positive int, but got 0"),
        ({"ink": "grey"}, "ink has to be 'auto', 'dark' or 'light', but got 'grey'"),
        ({"alphabet": ""}, "alphabet has to hold at least one character, but got ''"),
    ],
)
def test_bad_arguments(paper: Path, kwargs: dict[str, object], match: str) -> None:
    with pytest.raises(ValueError, match=re.escape(match)):
        TextLineFolder(paper, **kwargs)  # type: ignore[arg-type]


# --- the DataModule --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def lines(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, TextLines]:
    root = tmp_path_factory.mktemp("text") / "lines"
    return root, write_text_line_folder(root, 24)


def test_datamodule_splits_lines_reproducibly(lines: tuple[Path, TextLines]) -> None:
    root, generated = lines
    module = TextLineDataModule(root, val_split=4, test_split=0.25, batch_size=5, seed=3)
    module.setup("fit")
    parts = [list(s.indices) for s in (module.train_set, module.val_set, module.test_set)]  # type: ignore[union-attr]
    assert [len(p) for p in parts] == [14, 4, 6]
    assert sorted(i for part in parts for i in part) == list(range(24))
    again = TextLineDataModule(root, val_split=4, test_split=0.25, seed=3)
    again.setup("fit")
    assert list(again.val_set.indices) == parts[1]  # type: ignore[union-attr]
    used = sorted({c for i in range(24) for c in generated.text(i)})
    assert module.alphabet == "".join(used) and module.num_classes == len(used) + 1
    images, targets, lengths = next(iter(module.train_dataloader()))
    assert images.shape[:3] == (5, 1, 32) and images.shape[3] % 4 == 0
    assert int(lengths.sum()) == len(targets)
    image, target = module.train_set[0]  # type: ignore[index]
    index = parts[0][0]
    assert module.dataset is not None and module.dataset.decode(target) == generated.text(index)
    # 128 x 32 lines at height 32 stay as drawn: the generator's pixels, through 8-bit PNG
    assert torch.allclose(image[0], torch.from_numpy(generated.image(index)), atol=1 / 255 + 1e-6)


def _with_model(module: TextLineDataModule, alphabet: str, ckpt: str | None = None) -> None:
    module.trainer = SimpleNamespace(  # type: ignore[assignment]
        lightning_module=SimpleNamespace(alphabet=alphabet), ckpt_path=ckpt
    )


def test_datamodule_takes_the_models_alphabet_or_names_the_one_to_set(
    lines: tuple[Path, TextLines],
) -> None:
    root, generated = lines
    wide = " 0123456789abcdefghijklmnopqrstuvwxyz"
    module = TextLineDataModule(root)
    _with_model(module, wide)
    module.setup("fit")
    assert module.alphabet == wide and module.num_classes == 38
    _, target = module.train_set[0]  # type: ignore[index]
    index = module.train_set.indices[0]  # type: ignore[union-attr]
    assert target.tolist() == [wide.index(c) + 1 for c in generated.text(index)]

    used = "".join(sorted({c for i in range(24) for c in generated.text(i)}))
    narrow = used[1:] + "-"  # misses one of the labels' characters
    module = TextLineDataModule(root)
    _with_model(module, narrow)
    with pytest.raises(ConfigError) as info:
        module.setup("fit")
    message = str(info.value)
    assert f"the labels hold {used[0]!r}, which are not in it" in message
    assert f'set alphabet: "{used}" under model.init_args' in message
    assert f"{len(used) + 1} classes with the CTC blank" in message

    module = TextLineDataModule(root)
    _with_model(module, narrow, ckpt="last.ckpt")
    with pytest.raises(ConfigError, match="a checkpoint's alphabet is fixed"):
        module.setup("test")

    module = TextLineDataModule(root, alphabet=used)
    _with_model(module, used[::-1])  # the same characters in another class order
    with pytest.raises(ConfigError, match="the order of the characters is the class order"):
        module.setup("fit")


def test_datamodule_predicts_on_a_folder_in_natural_order(
    lines: tuple[Path, TextLines], tmp_path: Path
) -> None:
    root, _ = lines
    for name, grey in (("b10.png", 30), ("b9.png", 20), ("a.png", 10)):
        _save(tmp_path, name, np.full((16, 40), grey, dtype=np.uint8))
    module = TextLineDataModule(root, predict_root=tmp_path, batch_size=2)
    module.setup("predict")
    assert module.dataset is None  # no labels read to predict on a folder
    assert module.predict_items() == [("a.png", None), ("b9.png", None), ("b10.png", None)]
    batches = list(module.predict_dataloader())
    assert batches[0][0].shape == (2, 1, 32, 80) and batches[0][1].numel() == 0
    greys = [float(image.mean()) for images, _, _ in batches for image in images]
    assert np.allclose(greys, [10 / 255, 20 / 255, 30 / 255], atol=1e-5)
    on_test = TextLineDataModule(root, test_split=3)
    on_test.setup("predict")
    assert on_test.dataset is not None and isinstance(on_test.test_set, Subset)
    items = [
        (on_test.dataset.files[i].name, on_test.dataset.texts[i]) for i in on_test.test_set.indices
    ]
    assert on_test.predict_items() == items and len(items) == 3
    none = TextLineDataModule(root, test_split=0)
    with pytest.raises(DataError, match="nothing to predict on"):
        none.predict_dataloader()


# --- the config, run by the command line -----------------------------------------------------


@pytest.fixture
def _in_tmp_dir_on_one_thread(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.chdir(tmp_path)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.mark.usefixtures("_in_tmp_dir_on_one_thread")
def test_fit_then_predict_with_the_config(
    lines: tuple[Path, TextLines], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root, _ = lines
    data = [f"--data.init_args.root={root}"]
    assert cli.main(["fit", "--config", str(CONFIG), *data, *SHORT]) == 0
    last = Path("runs/text_folder/checkpoints/last.ckpt")
    checkpoint = torch.load(last, weights_only=False)
    assert checkpoint["global_step"] == 2
    assert checkpoint["hyper_parameters"]["alphabet"] == "0123456789abcdefghijklmnopqrstuvwxyz"

    new = tmp_path / "new"
    new.mkdir()
    generated = TextLines(num_samples=3, seed=9)
    for i, name in enumerate(("n10.png", "n2.png", "n1.png")):
        Image.fromarray(np.uint8(255 - generated.image(i) * 255)).save(new / name)  # dark ink
    # two steps teach a model to read blanks only: a random head without the blank reads every
    # line as some string (the order of the lines is checked on the DataModule above)
    state = checkpoint["state_dict"]
    weight = state["model.sequence.head.weight"]
    state["model.sequence.head.weight"] = torch.randn(
        weight.shape, generator=torch.Generator().manual_seed(0)
    )
    state["model.sequence.head.bias"] = torch.zeros(weight.shape[0]).index_fill(
        0, torch.tensor([0]), -1e4
    )
    reading = tmp_path / "reading.ckpt"
    torch.save(checkpoint, reading)
    predict = [f"--ckpt_path={reading}", f"--data.init_args.predict_root={new}", *SHORT[2:]]
    assert cli.main(["predict", "--config", str(CONFIG), *data, *predict]) == 0
    saved = torch.load("runs/text_folder/predictions/predictions.pt", weights_only=False)
    assert saved["indices"] == [0, 1, 2]

    # the same strings from the checkpoint's task on the files, read in natural order here
    from cnnlstm.tasks import RecognitionTask

    task = RecognitionTask.load_from_checkpoint(reading).eval()
    names = ("n1.png", "n2.png", "n10.png")
    pixels = [np.asarray(Image.open(new / name), dtype=np.float32) for name in names]
    images = torch.from_numpy(1 - np.stack(pixels) / 255)[:, None]  # (3, 1, 32, 128), bright ink
    with torch.no_grad():
        expected = task.decode(task(images))
    assert saved["predictions"] == expected
    assert all(expected)  # strings, not blanks
    assert all(set(text) <= set(task.alphabet) for text in expected)
    written = Path("runs/text_folder/predictions/predictions.csv").read_text(encoding="utf-8")
    table = list(csv.DictReader(io.StringIO(written)))
    assert [row["file"] for row in table] == list(names)
    assert [row["predicted"] for row in table] == expected
    assert [row["true"] for row in table] == ["", "", ""] and [r["item"] for r in table] == [
        "0",
        "1",
        "2",
    ]
    assert "predictions.csv (lines under" in capsys.readouterr().out


@pytest.mark.usefixtures("_in_tmp_dir_on_one_thread")
def test_labels_outside_the_configs_alphabet_stop_before_training(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = tmp_path / "upper"
    root.mkdir()
    for i, text in enumerate(("AB1", "b2", "C a", "ab", "ba", "c1")):
        _save(root, f"{i}.png", np.zeros((32, 64), dtype=np.uint8))
        with open(root / "labels.tsv", "a", encoding="utf-8") as labels:
            labels.write(f"{i}.png\t{text}\n")
    code = cli.main(["fit", "--config", str(CONFIG), f"--data.init_args.root={root}", *SHORT])
    assert code == 2
    error = capsys.readouterr().err.strip().splitlines()[-1]
    assert error.startswith("cnnlstm: error: TextLineDataModule: the model reads the alphabet")
    assert "the labels hold ' ABC', which are not in it" in error
    assert 'set alphabet: " 12ABCabc" under model.init_args' in error
    assert "(the labels' 9 characters: 10 classes with the CTC blank)" in error
    assert not Path("runs/text_folder/checkpoints/last.ckpt").exists()
