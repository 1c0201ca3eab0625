"""A run's arrays with named dimensions: xarray Datasets written as netCDF (``weights.nc``).

The names make a file explain itself. Dimensions: ``variant`` (and ``class_set`` where a study
trains several), ``seed``, ``snapshot`` (coordinate ``n_images``: training images seen), and one
dimension per layer of neurons, named after the layer (``input``, ``exc``, ``hidden``). A
projection's weights are the variable of its name, ``[..., <source layer>, <target layer>]``
(``<layer>_pre`` for a projection within one layer; ``<projection>_synapse`` with the
coordinates ``<projection>_pre``/``_post`` where it is not all-to-all). A frozen projection is
kept once, without ``snapshot``: it never changes. Weights are dimensionless (conductances
relative to the target model's leak conductance); a state such as ``exc.theta`` is ``[...,
exc]`` in SI units (attribute ``units``).

Runs that differ in size (variants with other layers or fewer snapshots) are padded: NaN for
numbers, -1 for integer coordinates, "" for names. Files are netCDF4 (HDF5, compressed,
lossless), written with h5netcdf; read them with ``xarray.open_dataset(path)``.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

ENGINE = "h5netcdf"
WEIGHT_UNITS = "1 (conductance relative to the target neuron model's leak conductance)"


def training_dataset(spec, weights: dict, states: dict, seeds, n_images, *, coords: dict | None = None,
                     readout_projection: str = ""):
    """One training run of :func:`bioplastic.studies.common.train_with_snapshots`, every seed a
    copy: ``weights`` {projection: [snapshot, seed, ...]}, ``states`` {"layer.var": [snapshot,
    seed, neuron]}, ``n_images`` per snapshot. ``coords``: more coordinates, {name: (dims,
    values)}, e.g. the class of each readout neuron ``{"exc_class": ("exc", names)}``.
    ``readout_projection``: the projection the study's figures show (an attribute)."""
    import xarray as xr

    data = {name: _projection(spec, name, np.asarray(w)) for name, w in weights.items()}
    data.update({name: _state(spec, name, np.asarray(x)) for name, x in states.items()})
    return xr.Dataset(data, coords={"seed": [int(s) for s in seeds], "snapshot": np.arange(len(n_images)),
                                    "n_images": ("snapshot", np.asarray(n_images, dtype=np.int64)),
                                    **(coords or {})},
                      attrs={"readout_layer": spec.readout_layer,
                             **({"readout_projection": readout_projection} if readout_projection else {})})


def segment_classes(spec, class_names) -> dict:
    """The coordinate of the readout layer's class segments: ``{"<layer>_class": (layer, names)}``."""
    names = [str(class_names[k]) for k in spec.segments()]
    return {f"{spec.readout_layer}_class": (spec.readout_layer, names)}


def _projection(spec, name: str, weights: np.ndarray):
    import xarray as xr

    p = spec.projections[name]
    weights = np.swapaxes(weights, 0, 1)                      # [seed, snapshot, ...]
    dims = ("seed", "snapshot") if p.plastic else ("seed",)
    if not p.plastic:
        weights = weights[:, 0]
    coords = {}
    if p.dense:
        dims += (f"{p.source}_pre" if p.source == p.target else p.source, p.target)
    else:
        pre, post = spec.pairs(name)
        dims += (f"{name}_synapse",)
        coords = {f"{name}_pre": (dims[-1], np.asarray(pre)), f"{name}_post": (dims[-1], np.asarray(post))}
    attrs = {"pre_layer": p.source, "post_layer": p.target, "connectivity": p.connectivity, "plastic": int(p.plastic),
             "rule": p.rule.name if p.rule else "", "units": WEIGHT_UNITS}
    return xr.DataArray(weights, dims=dims, coords=coords, attrs=attrs)


def _state(spec, name: str, values: np.ndarray):
    import brian2
    import xarray as xr

    from bioplastic.network.spec import split_state_name

    layer, variable = split_state_name(name)
    unit = brian2.Equations(spec.layers[layer].model.equations)[variable].dim
    return xr.DataArray(np.swapaxes(values, 0, 1), dims=("seed", "snapshot", layer),
                        attrs={"units": str(brian2.get_unit(unit)), "layer": layer})


def combine(runs: list[tuple[dict, object]]):
    """One Dataset of several runs, each labelled by its outer coordinates (``{"variant": "a",
    "class_set": "0,1,2"}``), which become its first dimensions; sizes that differ are padded (every
    dimension gets an index, 0, 1, ..., to align them)."""
    import xarray as xr

    parts, kept_coords = [], set()
    for labels, dataset in runs:
        kept_coords |= set(dataset.coords) - set(dataset.dims)
        indexed = dataset.assign_coords({dim: np.arange(n) for dim, n in dataset.sizes.items()
                                         if dim not in dataset.coords})
        parts.append(indexed.reset_coords().expand_dims({key: [value] for key, value in labels.items()}))
    kinds = {name: var.dtype.kind for part in parts for name, var in part.data_vars.items()}
    merged = xr.merge(parts, join="outer", compat="no_conflicts", combine_attrs="drop_conflicts")   # pads with NaN
    for name, kind in kinds.items():          # integers and names padded with NaN: back to their type
        if kind in "iu" and merged[name].dtype.kind == "f":
            merged[name] = merged[name].fillna(-1).astype(np.int64)
        elif kind in "US" and merged[name].dtype.kind == "O":
            merged[name] = merged[name].where(merged[name].notnull(), "").astype(str)
    order = {key: list(dict.fromkeys(labels[key] for labels, _ in runs if key in labels)) for labels, _ in runs
             for key in labels}
    return merged.sel(order).set_coords(sorted(kept_coords & set(merged.variables)))      # runs in the order given


def write(path: Path, dataset, **attrs) -> Path:
    """``dataset`` (with ``attrs`` added) as netCDF4, numbers compressed losslessly."""
    dataset = dataset.assign_attrs(**attrs)
    encoding = {name: {"zlib": True, "complevel": 4, "shuffle": True}
                for name, var in dataset.variables.items() if var.dtype.kind == "f" and var.ndim}
    dataset.to_netcdf(path, engine=ENGINE, encoding=encoding)
    return Path(path)


def open_dataset(path: Path):
    """A run's netCDF file, opened lazily (use it in a ``with`` block)."""
    import xarray as xr

    return xr.open_dataset(path, engine=ENGINE)


def final_readout_weights(run) -> tuple[np.ndarray, np.ndarray, int]:
    """(weights of the figures' projection onto the readout layer at the last snapshot [pre, neuron],
    a mask of the readout neurons that exist (not padding), images seen) of one run: one variant
    (class set) and seed of a :func:`training_dataset` file."""
    n_images = np.asarray(run["n_images"])
    last = int(np.flatnonzero(n_images >= 0)[-1])            # -1: padding after a shorter run's snapshots
    weights = np.asarray(run[run.attrs["readout_projection"]].isel(snapshot=last))
    neurons = ~np.isnan(weights).all(0)
    return weights[:, neurons], neurons, int(n_images[last])


def kernel_dataset(weights: dict, seeds):
    """Weights of a convolutional network (:mod:`bioplastic.network.convnet`) by layer, every seed a
    copy: ``weights`` {layer: [seed, ...]}. A kernel is ``[seed, <layer>_map, <layer>_channel,
    <layer>_ky, <layer>_kx]`` (its maps, the input maps, height, width); a locally connected layer's
    weights are ``[seed, <layer>_synapse]``. Weights are dimensionless (SpykeTorch's 0..1)."""
    import xarray as xr

    data = {}
    for layer, w in weights.items():
        w = np.asarray(w)
        parts = ("map", "channel", "ky", "kx") if w.ndim == 5 else ("synapse",)
        data[layer] = xr.DataArray(w, dims=("seed", *(f"{layer}_{part}" for part in parts)),
                                   attrs={"layer": layer, "units": "1"})
    return xr.Dataset(data, coords={"seed": [int(s) for s in seeds]})
