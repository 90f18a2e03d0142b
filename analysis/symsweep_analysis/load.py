"""Loading a result file into numpy arrays."""
import configparser
from dataclasses import dataclass, field

import h5py
import numpy as np

FORMAT = "symsweep/1"


@dataclass
class Sweep:
    """A result file in memory: axes in grid order, per-point results and traces."""

    path: str
    attrs: dict
    axes: dict  # name -> 1-D array, in dataset dimension order
    results: dict  # field -> N-D array (grid shape [+ trailing])
    traces: dict = field(default_factory=dict)  # quantity -> grid shape + (n_records[, k])
    steps: np.ndarray = None  # record steps of the traces
    enums: dict = field(default_factory=dict)  # enum field -> member names by code, from the file

    def code(self, field_name, member):
        """The code of an enum member, e.g. code("status", "done")."""
        return self.enums[field_name].index(member)

    @property
    def shape(self):
        return tuple(len(v) for v in self.axes.values())

    @property
    def config(self):
        """The resolved configuration as a ConfigParser."""
        parser = configparser.ConfigParser(interpolation=None)
        parser.read_string(self.attrs["config_text"])
        return parser

    def fixed(self, key):
        """The value of an unswept numeric key, from the resolved configuration."""
        section, name = key.split(".", 1)
        return float(self.config[section][name])

    def param(self, key):
        """The value of `key` at every grid point (swept or fixed), as a grid-shaped array."""
        if key in self.axes:
            dim = list(self.axes).index(key)
            shape = [1] * len(self.axes)
            shape[dim] = len(self.axes[key])
            return np.broadcast_to(np.asarray(self.axes[key], float).reshape(shape), self.shape)
        return np.full(self.shape, self.fixed(key))


def _decode(value):
    return value.decode() if isinstance(value, bytes) else value


def _is_scale(ds):
    """Axis and dimension scales are linked into every group; they are not fields."""
    return _decode(ds.attrs.get("CLASS", b"")) == "DIMENSION_SCALE"


def _members(ds):
    """Member names of an enum dataset by code, or None."""
    mapping = h5py.check_enum_dtype(ds.dtype)
    if mapping is None:
        return None
    names = [None] * (max(mapping.values()) + 1)
    for name, code in mapping.items():
        names[code] = name
    return tuple(names)


def _axis_values(ds):
    values = ds[()]
    if values.dtype.kind == "S":  # text, choices, vectors, matrices: their canonical text
        return np.array([v.decode("utf-8") for v in values], dtype=object)
    return values


def load(path):
    """Reads a symsweep result file; raises ValueError for other files."""
    with h5py.File(path, "r") as f:
        attrs = {k: _decode(v) for k, v in f.attrs.items()}
        if attrs.get("format") != FORMAT:
            raise ValueError(f"{path}: not a {FORMAT} result file (format={attrs.get('format')!r})")
        status = f["results/status"]
        axes = {}
        for dim in status.dims:
            # Each grid dimension has exactly one attached scale: its /axes dataset.
            axes[dim.label] = _axis_values(dim[0])
        fields = {name: ds for name, ds in f["results"].items() if not _is_scale(ds)}
        results = {name: ds[()] for name, ds in fields.items()}
        enums = {name: m for name, ds in fields.items() if (m := _members(ds)) is not None}
        traces, steps = {}, None
        if "traces" in f:
            steps = f["traces/step"][()]
            traces = {name: ds[()] for name, ds in f["traces"].items() if not _is_scale(ds)}
    return Sweep(path, attrs, axes, results, traces, steps, enums)
