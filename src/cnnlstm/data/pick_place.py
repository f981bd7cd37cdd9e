"""A simulated pick-and-place machine: 5 analogue motor signals, 13 binary PLC signals, faults.

The machine repeats a cycle of steps: ``down_pick``, ``grip``, ``up_pick``, ``move``,
``down_place``, ``release``, ``up_place``, ``return`` and, in some cycles, ``wait`` (for the next
part) before the next ``down_pick``. Each step lasts 2-5 rows (seconds) with jitter. The 13 PLC
signals (:data:`BINARY_SIGNALS`, 0/1) are set by the step alone, so normal operation shows only 9
PLC states and 19 state transitions (9 of them a state holding). The 5 analogue signals
(:data:`ANALOGUE_SIGNALS`: x, y, z and gripper motor currents in A, vacuum in kPa) follow the step:
a level per step, a peak on a move's first row (acceleration), the vacuum's build-up on ``grip``
and decay on ``release``, plus white noise. Each row depends only on its step, its place in the
step and its noise, so an anomaly changes its own rows and no other.

============= =========== ===================================================================
kind          rows        what happens
============= =========== ===================================================================
plc_state     2-10        one PLC signal is inverted: a state never seen in normal cycles
                          (e.g. vacuum on while the gripper is open); the motors run normally
sequence      2-5         a step is skipped (e.g. up_pick straight after down_pick): every
                          state is a normal one, but the transition into the segment is not
spike         2-5         a motor current spikes (+0.8 to 1.5 A) or collapses (to 0-15 % of
                          a running motor's >= 0.25 A) while the PLC signals are normal
stuck         2-30        one signal holds its last value: an analogue one for 8-30 rows, or
                          a PLC one from the first to the last of 8-30 rows it should differ on
============= =========== ===================================================================

:meth:`PickPlace.generate` gives the recording in SKAB's layout (as
:class:`~cnnlstm.data.sensor_plant.SensorPlant` does): ``datetime`` at 1 Hz, the analogue then the
binary columns, ``anomaly`` and ``changepoint``; :meth:`PickPlace.normal` an anomaly-free one that
ends a second before it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, NamedTuple

import numpy as np

from cnnlstm.data.skab_files import SkabWriter, start_time
from cnnlstm.extras import importing

if TYPE_CHECKING:  # pandas loads on first use
    import pandas as pd

__all__ = [
    "ANALOGUE_SIGNALS",
    "BINARY_SIGNALS",
    "PICK_PLACE_KINDS",
    "STEPS",
    "PickPlace",
    "PickPlaceAnomaly",
]

STEPS: tuple[str, ...] = (
    "down_pick",
    "grip",
    "up_pick",
    "move",
    "down_place",
    "release",
    "up_place",
    "return",
    "wait",
)
"""The machine's steps, in the order of a cycle (``wait`` only in some cycles)."""

_WAIT = 8
_WAIT_CHANCE = 0.4  # the share of cycles that wait for a part after ``return``
# rows a step lasts, (low, high) inclusive
_DURATIONS: tuple[tuple[int, int], ...] = (
    (2, 3),
    (2, 3),
    (2, 3),
    (3, 5),
    (2, 3),
    (2, 3),
    (2, 3),
    (3, 5),
    (2, 4),
)

# each PLC signal and the steps in which it is 1
_PLC: tuple[tuple[str, frozenset[int]], ...] = (
    ("cmd_down", frozenset({0, 4})),
    ("cmd_up", frozenset({2, 6})),
    ("cmd_move", frozenset({3})),
    ("cmd_return", frozenset({7})),
    ("cmd_grip", frozenset({1})),
    ("cmd_release", frozenset({5})),
    ("vacuum_on", frozenset({1, 2, 3, 4})),
    ("gripper_closed", frozenset({2, 3, 4})),
    ("part_present", frozenset({2, 3, 4, 5})),
    ("z_top", frozenset({3, 7, 8})),
    ("z_bottom", frozenset({1, 5})),
    ("at_pick", frozenset({8, 0, 1, 2})),
    ("at_place", frozenset({4, 5, 6})),
)
BINARY_SIGNALS: tuple[str, ...] = tuple(name for name, _ in _PLC)
"""The 13 PLC signals (0/1), in column order."""
_STATES = np.array(
    [[int(step in on) for _, on in _PLC] for step in range(len(STEPS))], dtype=np.int64
)  # (9, 13): the PLC state of each step

ANALOGUE_SIGNALS: tuple[str, ...] = (
    "x_current",
    "y_current",
    "z_current",
    "gripper_current",
    "vacuum_kpa",
)
"""The 5 analogue signals, in column order: motor currents (A) and the vacuum (kPa)."""
_MOTORS = 4  # the first four analogue signals are motor currents
# (9 steps, 5 signals): each step's level; and the extra on a step's first row
_LEVEL = np.array(
    [
        [0.25, 0.10, 0.60, 0.05, -1.5],  # down_pick
        [0.25, 0.10, 0.40, 0.30, 0.0],  # grip (vacuum: a ramp)
        [0.25, 0.10, 1.40, 0.30, -60.0],  # up_pick, with the part
        [1.80, 1.10, 0.40, 0.30, -60.0],  # move
        [0.25, 0.10, 0.70, 0.30, -60.0],  # down_place
        [0.25, 0.10, 0.40, 0.05, 0.0],  # release (vacuum: a ramp)
        [0.25, 0.10, 1.00, 0.05, -1.5],  # up_place
        [1.50, 0.90, 0.40, 0.05, -1.5],  # return
        [0.25, 0.10, 0.40, 0.05, -1.5],  # wait
    ]
)
_FIRST = np.zeros_like(_LEVEL)
_FIRST[[3, 7], 0] = 0.7  # x accelerates
_FIRST[[3, 7], 1] = 0.5  # y accelerates
_FIRST[[0, 2, 4, 6], 2] = 0.3  # z starts
_FIRST[[1, 5], 3] = 0.5  # the gripper closes, opens
_VACUUM, _AMBIENT, _RATE = -60.0, -1.5, 0.35  # held, ambient (kPa); the ramps' ratio per row
_NOISE = np.array([0.05, 0.04, 0.04, 0.02, 0.8])  # white noise standard deviation per signal

PICK_PLACE_KINDS: tuple[str, ...] = ("plc_state", "sequence", "spike", "stuck")
"""The kinds of anomaly :class:`PickPlace` can inject."""
# rows a kind may need from where it is placed: its longest segment, and for ``sequence`` the
# rows to find a step to skip in
_SLOTS = {"plc_state": 10, "sequence": 40, "spike": 5, "stuck": 30}


_NEXT = {step: {step + 1} for step in range(7)} | {7: {0, _WAIT}, _WAIT: {0}}
_NORMAL_MOVES = {(a, b) for a, nxt in _NEXT.items() for b in nxt} | {(s, s) for s in range(9)}
_NORMAL_STATES = {tuple(row) for row in _STATES.tolist()}


class PickPlaceAnomaly(NamedTuple):
    """One injected anomaly: rows ``[start, end)``, its kind, the signals it changes and what
    happened (``"skips grip: down_pick -> up_pick"``)."""

    start: int
    end: int
    kind: str
    signals: tuple[str, ...]
    detail: str


class PickPlace(SkabWriter):
    """Generator of a pick-and-place machine's recordings with labelled anomalies (see the module
    docstring).

    Every recording ``index`` draws its steps and noise from ``(seed, index)`` and its anomalies
    from a stream of their own; :meth:`normal` is a different, anomaly-free recording.

    Args:
        seed: fixes the recordings.
        anomaly_kinds: the kinds to inject, from :data:`PICK_PLACE_KINDS`; each recording cycles
            through them in a random order.
        n_anomalies: anomalies per recording.
        normal_rows: the clean rows at the start of each recording, for fitting.
        min_gap: the fewest normal rows between two anomalies (and after the last one).
        start: the time of the first row.

    Raises:
        ValueError: for counts or kinds out of range.

    Example:
        >>> machine = PickPlace(seed=0)
        >>> machine.generate(2000).shape
        (2000, 21)
    """

    def __init__(
        self,
        *,
        seed: int = 0,
        anomaly_kinds: Sequence[str] = PICK_PLACE_KINDS,
        n_anomalies: int = 4,
        normal_rows: int = 400,
        min_gap: int = 100,
        start: str = "2021-01-01 00:00:00",
    ) -> None:
        with importing("generating sensor files (cnnlstm.data.pick_place)", "sensors"):
            import pandas  # noqa: F401  (a missing extra is said when the generator is made)

        kinds = tuple(anomaly_kinds)
        if (
            any(k not in PICK_PLACE_KINDS for k in kinds)
            or (n_anomalies > 0 and not kinds)
            or len(set(kinds)) != len(kinds)
        ):
            raise ValueError(
                f"anomaly_kinds has to be distinct kinds from {PICK_PLACE_KINDS}, but got {kinds}"
            )
        for name, value, least in (
            ("n_anomalies", n_anomalies, 0),
            ("normal_rows", normal_rows, 0),
            ("min_gap", min_gap, 1),
        ):
            if value < least:
                raise ValueError(f"{name} has to be >= {least}, but got {value}")
        self.start = start_time(start)
        self.seed = seed
        self.anomaly_kinds = kinds
        self.n_anomalies = n_anomalies
        self.normal_rows = normal_rows
        self.min_gap = min_gap
        self.signal_names: list[str] = [*ANALOGUE_SIGNALS, *BINARY_SIGNALS]
        self.anomalies: list[PickPlaceAnomaly] = []
        """The anomalies of the last :meth:`generate` call."""

    @property
    def min_rows(self) -> int:
        """The fewest rows that fit ``n_anomalies`` of the longest kinds after the clean rows."""
        if self.n_anomalies == 0:
            return 1
        longest = sorted((_SLOTS[k] for k in self.anomaly_kinds), reverse=True)
        total = sum(longest[i % len(longest)] for i in range(self.n_anomalies))
        return self.normal_rows + total + (self.n_anomalies + 1) * self.min_gap

    def _steps(self, rng: np.random.Generator, rows: int) -> tuple[np.ndarray, np.ndarray]:
        """``(step (rows,), place in the step (rows,))`` of a recording that starts mid-cycle."""
        steps: list[int] = []
        lengths: list[int] = []
        step, total = int(rng.integers(0, _WAIT)), 0
        while total < rows:
            if step != _WAIT or rng.random() < _WAIT_CHANCE:
                low, high = _DURATIONS[step]
                steps.append(step)
                length = int(rng.integers(low, high + 1))
                if not lengths:  # start inside the first step
                    length -= int(rng.integers(0, length))
                lengths.append(length)
                total += length
            step = (step + 1) % len(STEPS)
        firsts = np.repeat(np.cumsum([0, *lengths[:-1]]), lengths)  # each row's step's first row
        place = np.arange(len(firsts)) - firsts
        return np.repeat(np.array(steps), lengths)[:rows], place[:rows]

    def _recording(self, rng: np.random.Generator, rows: int) -> tuple[np.ndarray, ...]:
        """``(step, place, analogue noise (rows, 5))`` of one clean recording."""
        step, place = self._steps(rng, rows)
        noise = rng.normal(0.0, 1.0, (rows, len(ANALOGUE_SIGNALS))) * _NOISE
        return step, place, noise

    @staticmethod
    def _signals(step: np.ndarray, place: np.ndarray, noise: np.ndarray) -> np.ndarray:
        """``(n, 18)`` float64: the analogue then the PLC signals of rows at ``step`` and
        ``place`` (arrays ``(n,)``) with their ``noise`` ``(n, 5)``."""
        analogue = _LEVEL[step] + _FIRST[step] * (place == 0)[:, None]  # (n, 5)
        ramp = _RATE ** (place + 1.0)  # the vacuum's share still to come (grip) or left (release)
        analogue[:, 4] = np.where(step == 1, _VACUUM + (_AMBIENT - _VACUUM) * ramp, analogue[:, 4])
        analogue[:, 4] = np.where(step == 5, _AMBIENT + (_VACUUM - _AMBIENT) * ramp, analogue[:, 4])
        return np.concatenate([analogue + noise, _STATES[step]], axis=1)

    def _place(self, rng: np.random.Generator, rows: int) -> list[tuple[int, str]]:
        """Draw the kinds and places of the anomalies: ``(first row of its slot, kind)``."""
        if self.n_anomalies == 0:
            return []
        order = [str(k) for k in rng.permutation(np.array(self.anomaly_kinds))]
        kinds = [order[i % len(order)] for i in range(self.n_anomalies)]
        slots = [_SLOTS[k] for k in kinds]
        slack = rows - self.normal_rows - sum(slots) - (self.n_anomalies + 1) * self.min_gap
        cuts = np.sort(rng.integers(0, slack + 1, self.n_anomalies))
        extra = np.diff(np.concatenate([[0], cuts]))  # (n,): extra gap before each anomaly
        placed, at = [], self.normal_rows
        for kind, slot, more in zip(kinds, slots, extra, strict=True):
            at += self.min_gap + int(more)
            placed.append((at, kind))
            at += slot
        return placed

    def _inject(
        self,
        rng: np.random.Generator,
        values: np.ndarray,
        step: np.ndarray,
        noise: np.ndarray,
        at: int,
        kind: str,
    ) -> PickPlaceAnomaly:
        """Inject one anomaly of ``kind`` into ``values`` ``(rows, 18)`` within its slot from
        row ``at`` (``step`` is changed too, for ``sequence``)."""
        plc = values[:, len(ANALOGUE_SIGNALS) :]  # a view
        if kind == "sequence":  # skip a whole step: p, q..., q' -> p, q'..., q'
            longest = max(high for _, high in _DURATIONS)
            for b in range(at + 1, at + _SLOTS[kind] - longest):  # q ends in the slot
                p, q = int(step[b - 1]), int(step[b])
                n = int(np.argmax(step[b:] != q))  # the rows of q
                after = int(step[b + n])
                if p != q and (p, after) not in _NORMAL_MOVES:
                    break
            else:  # every ~24 rows a cycle holds 8 steps to skip, and one skip is normal
                raise RuntimeError(f"no step to skip in rows {at}-{at + _SLOTS[kind] - 1}")
            step[b : b + n] = after
            values[b : b + n] = self._signals(step[b : b + n], np.arange(n), noise[b : b + n])
            changed = np.flatnonzero(_STATES[q] != _STATES[after])
            return PickPlaceAnomaly(
                b,
                b + n,
                kind,
                tuple(BINARY_SIGNALS[j] for j in changed),
                f"skips {STEPS[q]}: {STEPS[p]} -> {STEPS[after]}",
            )
        if kind == "plc_state":
            n = int(rng.integers(2, 11))
            rows = plc[at : at + n]
            unseen = [
                j
                for j in range(len(BINARY_SIGNALS))
                if all(tuple(r) not in _NORMAL_STATES for r in _flip(rows, j).tolist())
            ]
            j = int(rng.choice(unseen))
            plc[at : at + n] = _flip(rows, j)
            steps = list(dict.fromkeys(STEPS[s] for s in step[at : at + n].tolist()))
            detail = f"{BINARY_SIGNALS[j]} inverted during {', '.join(steps)}"
            return PickPlaceAnomaly(at, at + n, kind, (BINARY_SIGNALS[j],), detail)
        if kind == "spike":
            n = int(rng.integers(2, 6))
            running = np.flatnonzero(_LEVEL[step[at : at + n], :_MOTORS].min(axis=0) >= 0.25)
            if rng.random() < 0.5:  # spikes, on any motor
                j = int(rng.integers(0, _MOTORS))
                values[at : at + n, j] += rng.uniform(0.8, 1.5, n)
                detail = "spikes"
            else:  # collapses, on a motor that draws at least 0.25 A in these rows (z always)
                j = int(rng.choice(running))
                values[at : at + n, j] *= rng.uniform(0.0, 0.15, n)
                detail = "collapses"
            name = ANALOGUE_SIGNALS[j]
            return PickPlaceAnomaly(at, at + n, kind, (name,), f"{name} {detail} for {n} rows")
        # stuck: an analogue signal, or a PLC one that would change in the rows; a PLC one's
        # segment runs from the first to the last row it differs on, the rows the fault shows in
        n = int(rng.integers(8, 31))
        held = values[at - 1]  # (18,)
        spans = {
            j: (int(d[0]), int(d[-1]) + 1)
            for j in range(len(ANALOGUE_SIGNALS), len(held))
            if len(d := np.flatnonzero(values[at : at + n, j] != held[j])) and d[-1] > d[0]
        }
        if spans and rng.random() < 0.5:
            j = int(rng.choice(sorted(spans)))
            first, last = spans[j]
            at, n = at + first, last - first  # the rows before it hold the value anyway
        else:
            j = int(rng.integers(0, len(ANALOGUE_SIGNALS)))
        values[at : at + n, j] = held[j]
        name = self.signal_names[j]
        return PickPlaceAnomaly(at, at + n, kind, (name,), f"{name} holds {held[j]:.6g}")

    def _generate(
        self, rows: int, anomalies: bool, index: int
    ) -> tuple[np.ndarray, np.ndarray, list[PickPlaceAnomaly]]:
        if rows < 1 or (anomalies and rows < self.min_rows):
            least = self.min_rows if anomalies else 1
            raise ValueError(
                f"rows has to be at least {least} for {self.n_anomalies if anomalies else 0} "
                f"anomalies after {self.normal_rows} normal rows, but got {rows}"
            )
        step, place, noise = self._recording(np.random.default_rng([self.seed, 1, index]), rows)
        values = self._signals(step, place, noise)
        records = []
        if anomalies:  # a stream of their own, so injecting them changes nothing else
            rng = np.random.default_rng([self.seed, 3, index])
            for at, kind in self._place(rng, rows):
                records.append(self._inject(rng, values, step, noise, at, kind))
        anomaly = np.zeros(rows)
        for record in records:
            anomaly[record.start : record.end] = 1.0
        return values, anomaly, records

    def _frame(self, values: np.ndarray, *, before: bool = False) -> pd.DataFrame:
        """The rows with their times at 1 Hz from ``start``, or ending a second before it; the
        PLC signals as int64."""
        import pandas as pd

        first = self.start - pd.Timedelta(seconds=len(values)) if before else self.start
        frame = pd.DataFrame(values, columns=self.signal_names)
        frame[list(BINARY_SIGNALS)] = frame[list(BINARY_SIGNALS)].astype(np.int64)
        frame.insert(0, "datetime", pd.date_range(first, periods=len(values), freq="s"))
        return frame

    def generate(self, rows: int, *, anomalies: bool = True, index: int = 0) -> pd.DataFrame:
        """One recording with labelled anomalies, in SKAB's layout.

        ``anomalies=False`` gives the same recording without them: every row outside the
        anomalies' ``[start, end)`` is identical. They are stored in :attr:`anomalies` and in
        ``frame.attrs["anomalies"]``.

        Args:
            rows: the rows (seconds) of the recording, at least :attr:`min_rows`.
            anomalies: inject the anomalies.
            index: which recording of this machine.

        Returns:
            Columns ``datetime``, :data:`ANALOGUE_SIGNALS` (float), :data:`BINARY_SIGNALS`
            (int 0/1), ``anomaly`` and ``changepoint`` (float 0/1; a change point on each
            anomaly's first row and on the row after it).

        Raises:
            ValueError: when ``rows`` is below :attr:`min_rows` (with ``anomalies``).

        Example:
            >>> PickPlace(seed=1).generate(2000).columns[[0, 1, 6, -1]].tolist()
            ['datetime', 'x_current', 'cmd_down', 'changepoint']
        """
        values, anomaly, records = self._generate(rows, anomalies, index)
        changepoint = np.zeros(rows)
        for record in records:
            changepoint[[r for r in (record.start, record.end) if r < rows]] = 1.0
        frame = self._frame(values)
        frame["anomaly"] = anomaly
        frame["changepoint"] = changepoint
        frame.attrs["anomalies"] = list(records)
        self.anomalies = list(records)
        return frame

    def normal(self, rows: int, *, index: int = 0) -> pd.DataFrame:
        """An anomaly-free recording of its own (not :meth:`generate`'s without its anomalies):
        ``datetime`` and the signals, no labels, ending one second before ``start``.

        Example:
            >>> PickPlace().normal(100).shape
            (100, 19)
        """
        if rows < 1:
            raise ValueError(f"rows has to be at least 1, but got {rows}")
        step, place, noise = self._recording(np.random.default_rng([self.seed, 2, index]), rows)
        return self._frame(self._signals(step, place, noise), before=True)

    def __repr__(self) -> str:
        return (
            f"PickPlace(seed={self.seed}, anomaly_kinds={self.anomaly_kinds}, "
            f"n_anomalies={self.n_anomalies}, normal_rows={self.normal_rows}, "
            f"min_gap={self.min_gap})"
        )


def _flip(rows: np.ndarray, j: int) -> np.ndarray:
    """``rows`` ``(n, 13)`` of 0/1 with column ``j`` inverted."""
    flipped = np.array(rows, copy=True)
    flipped[:, j] = 1 - flipped[:, j]
    return flipped
