"""The typed schema of an experiment configuration: every section, study, layer and projection,
with its type, range, unit and default, in one place (pydantic v2).

``bioplastic.config`` merges a YAML file, ``--quick`` and command-line overrides onto the
defaults below (unknown keys are refused there, with the closest valid key), then parses the
result once with :func:`validate`: a value of the wrong type, out of range, or a quantity of
the wrong unit is a :class:`~bioplastic.errors.ConfigError` that names the key, before anything
is built. ``bioplastic config --schema`` prints this schema as a table (``--json``: JSON Schema).

Quantities are written as strings with units (``"0.5 ms"``, ``"63.75 Hz"``); the
:func:`Quantity` field type checks their unit and keeps the text, which the code turns into a
Brian2 quantity where it is used. The maps named ``parameters``, ``equations``,
``extra_parameters``, ``initial_values`` (a neuron model's own names), ``pruning``, ``epochs``,
``grid``, ``zip``, ``sample``, ``ranges``, ``baselines``, ``panels`` and ``templates`` are
free-form here: the models, rules and studies that read them check their contents.
"""
from __future__ import annotations

import copy
from typing import Annotated, Any, Literal

from pydantic import (AfterValidator, BaseModel, ConfigDict, Field, ValidationError, create_model, field_validator,
                      model_validator)

from bioplastic.errors import ConfigError


class Section(BaseModel):
    """A config section: unknown keys refused, defaults checked like given values."""
    model_config = ConfigDict(extra="forbid", validate_default=True)


def _quantity_checker(unit: str | None, minimum: str | None):
    def check(value):
        from brian2 import get_dimensions
        from bioplastic.units import parse_quantity
        if isinstance(value, bool):
            raise ValueError(f"expected a quantity such as '10 {unit or 'ms'}', not a boolean")
        try:
            quantity = parse_quantity(value, name="value")
        except ConfigError as exc:
            raise ValueError(str(exc).removeprefix("value: ").removeprefix("value ")) from None
        if unit is not None and get_dimensions(quantity) != get_dimensions(parse_quantity(f"1 {unit}")):
            raise ValueError(f"expected a quantity in {unit}, e.g. '10 {unit}'")
        if minimum == ">0" and not float(quantity) > 0:
            raise ValueError("must be > 0")
        if minimum == ">=0" and float(quantity) < 0:
            raise ValueError("must be >= 0")
        return value
    return check


def Quantity(unit: str | None = None, minimum: str | None = None):  # noqa: N802 (a type, like typing's)
    """A quantity with a unit, written as text (``"20 ms"``); ``unit``: the dimensions it must
    have (``"ms"``, ``"Hz"``; None: any), ``minimum``: ``">0"`` or ``">=0"``."""
    kind = f"quantity in {unit}" if unit else "quantity"
    kind += {">0": " > 0", ">=0": " >= 0", None: ""}[minimum]
    return Annotated[str | float | int, AfterValidator(_quantity_checker(unit, minimum)),
                     Field(json_schema_extra={"bioplastic_type": kind})]


FreeForm = dict[str, Any]
PositiveInt = Annotated[int, Field(ge=1)]
NonNegativeInt = Annotated[int, Field(ge=0)]
Fraction = Annotated[float, Field(ge=0, le=1)]


def F(default, description: str = "", **constraints):  # noqa: N802 (pydantic's Field, shortened)
    """A field with a default (copied for mutable ones) and its description."""
    if isinstance(default, (dict, list)):
        return Field(default_factory=lambda: copy.deepcopy(default), description=description, **constraints)
    return Field(default, description=description, **constraints)


# ---------------------------------------------------------------- common sections

#: Every device a network can run on (bioplastic.devices; the CLI's --device choices).
DEVICES = ("runtime", "cpp_standalone", "genn", "cuda_standalone")


class Device(Section):
    name: Literal[DEVICES] = F(
        "runtime", "where Brian2 runs the network: runtime (Python + Cython/numpy), cpp_standalone (one compiled "
        "C++ program), genn (brian2genn), cuda_standalone (brian2cuda)")
    target: Literal["cython", "numpy"] = F("cython", "code generation target of the runtime device")
    threads: NonNegativeInt = F(0, "OpenMP threads of cpp_standalone (0: off)")
    build_dir: str | None = F(None, "standalone: where the C++ project is written (null: a temporary folder)")
    keep_build: bool = F(False, "keep the temporary standalone build folder")
    vectorized_math: bool = F(True, "cpp_standalone on x86-64 Linux with GCC: vectorise the state updates with "
                              "glibc's SIMD exp/log (~3x faster state updates; false: the scalar build)")


class Data(Section):
    dataset: Literal["mnist", "emnist_letters"] = F("mnist", "dataset (files found through BIOPLASTIC_DATA_DIR)")
    classes: list[int | str] = F([0, 1, 2], "classes used, e.g. [0, 1, 2] (digits) or [a, b, d] (letters)",
                                 min_length=1)
    n_train: PositiveInt = F(5000, "training images (a balanced, seeded sample of the training split)")
    n_test: PositiveInt = F(1000, "test images")
    holdout_per_class: PositiveInt = F(800, "EMNIST letters without the official test files: training images per "
                                       "letter held out (stratified, seeded) as the test set")
    verify: bool = F(True, "check the pinned SHA-256 checksums of the data files")


class Neuron(Section):
    model: str | None = F(None, "registered neuron model (`bioplastic models` lists them)")
    parameters: FreeForm = F({}, "parameter overrides, e.g. {tau_m: 50 ms}")
    equations: FreeForm = F({}, "equation lines replaced or added, keyed by variable")
    extra_parameters: FreeForm = F({}, "new parameters the edited equations use")
    threshold: str | None = F(None, "threshold condition (null: the model's)")
    reset: str | None = F(None, "reset statements (null: the model's)")
    refractory: str | float | None = F(None, "refractory period or condition (null: the model's)")
    initial_values: FreeForm = F({}, "initial values of state variables")
    method: str | None = F(None, "Brian2 integration method (null: the model's), e.g. exponential_euler")


class Inhibition(Section):
    neuron: Neuron = F({"model": "inhibitory_lif"}, "the inhibitory partners' neuron model")
    lateral: str = F("all_but_self", "lateral inhibition: all_but_self | radius | none")
    radius: float = F(0.0, "lateral: radius — inhibition reaches partners within this distance on the sheet", ge=0)
    w_exc_inh: float = F(10.4, "excitatory -> its partner, conductance relative to the target model's reference "
                         "(Diehl & Cook 2015)", ge=0)
    w_inh_exc: float = F(17.0, "partner -> the excitatory neurons it inhibits, relative conductance", ge=0)


class Teacher(Section):
    rate: Quantity("Hz", ">=0") = F("0 Hz", "Poisson excitation of the label's segment while learning")
    weight: float = F(0.0, "its weight (relative conductance)", ge=0)


class Competition(Section):
    k: PositiveInt = Field(description="k-winners-take-all: at most k winners per image, one per feature map")
    radius: NonNegativeInt = F(0, "each winner excludes features within this Chebyshev distance")
    pointwise: bool = F(True, "one feature per position (the earliest) before choosing winners")


class Layer(Section):
    neuron: Neuron = F({"model": "adaptive_lif"}, "neuron model of the layer")
    size: PositiveInt | None = F(None, "number of neurons (exactly one of size, shape, n_per_class)")
    shape: list[PositiveInt] | None = F(None, "[channels, height, width] of a layer of feature maps")
    n_per_class: PositiveInt | None = F(None, "neurons per class segment (size = n_per_class x classes)")
    sheet_width: PositiveInt | None = F(None, "columns of the layer's sheet for inhibition radii (null: square)")
    inhibition: Inhibition | None = F({}, "one-to-one inhibitory partners and lateral inhibition (null: none)")
    teacher: Teacher = F({}, "excitation of the label's segment while learning (supervised rules)")
    competition: Competition | None = F(None, "layers of feature maps: k-winners-take-all per image")


class Plasticity(Section):
    rule: str = F("supervised", "registered plasticity rule (`bioplastic models` lists them)")
    parameters: FreeForm = F({}, "the rule's parameter overrides, e.g. {A_pre: 0.005}")
    trace_location: Literal["neuron", "synapse"] = F("neuron", "where the STDP traces live")
    pruning: FreeForm | None = F(None, "'use it or lose it': {k_p: 1, tau_prune: 7500 ms, prune_below: 0.001}")


class Projection(Section):
    source: str | None = F(None, "source layer (or input)")
    target: str | None = F(None, "target layer")
    connectivity: str = F("all_to_all", "all_to_all | one_to_one | all_but_self | within_radius | "
                          "fixed_probability | conv | max_pool | local")
    radius: float = F(0.0, "within_radius: the radius on the sheets", ge=0)
    probability: Fraction = F(1.0, "fixed_probability: probability of each synapse")
    connect_seed: NonNegativeInt = F(0, "seed of the random connectivity")
    w_init_max: float = F(0.3, "initial weights uniform in [0, w_init_max] (relative conductance)", ge=0)
    plasticity: Plasticity | None = F({}, "the learning rule (null: frozen weights)")
    weight_normalization: float | None = F(None, "each target neuron's input weights sum to this (Diehl & Cook: "
                                           "78)", gt=0)
    gain: float = F(1.0, "a spike adds gain x w to the target's conductance")
    kernel_size: PositiveInt | None = F(None, "conv / max_pool / local: kernel size")
    stride: PositiveInt | None = F(None, "conv / max_pool / local: stride (null: 1, pooling: kernel size)")
    padding: NonNegativeInt = F(0, "conv / local: zero padding")
    drop_remainder: bool = F(False, "max_pool: drop positions that do not fill a window")
    w_init_normal: list[float] | None = F(None, "[mean, std] of the initial kernel weights (default 0.8, 0.05)",
                                          min_length=2, max_length=2)


class Input(Section):
    max_rate: Quantity("Hz", ">0") = F("63.75 Hz", "Poisson input: a pixel of intensity 255 fires at this rate")


class Readout(Section):
    layer: str | None = F(None, "layer whose spike counts are read (null: the last layer)")
    kind: str = F("segments", "segments | label_assignment")


class Network(Section):
    dt: Quantity("ms", ">0") = F("0.5 ms", "integration time step")
    input: Input = F({}, "the input layer")
    layers: dict[str, Layer] = F({}, "named layers, in order")
    projections: dict[str, Projection] = F({}, "named projections between layers")
    readout: Readout = F({}, "how predictions are read from spike counts")


class Repeat(Section):
    enabled: bool = F(False, "Diehl & Cook: show an image again when it evokes too few spikes")
    min_spikes: NonNegativeInt = F(5, "fewer spikes than this in the readout layer: shown again")
    rate_increase: Quantity("Hz", ">0") = F("32 Hz", "more input each time it is shown again")
    max_repeats: NonNegativeInt = F(10, "at most this many times")
    extra_fraction: float = F(0.1, "room for this fraction more presentations than images", ge=0)


class Protocol(Section):
    image_duration: Quantity("ms", ">0") = F("350 ms", "presentation of one image")
    rest_duration: Quantity("ms", ">=0") = F("150 ms", "rest between images (no input)")
    eval_every: NonNegativeInt = F(100, "images between two snapshots (0: only at the start and the end)")
    reset_state: bool = F(False, "reset neurons and traces at each image start instead of a rest "
                          "(then rest_duration must be 0 ms)")
    repeat: Repeat = F({}, "Diehl & Cook's repeat rule")


class Evaluation(Section):
    batch_size: PositiveInt = F(500, "network copies evaluated in one batched run")
    test_seed: NonNegativeInt = F(12345, "seed of the test images' Poisson spikes")


class Sweep(Section):
    grid: FreeForm = F({}, "every combination: {data.n_train: [100, 300], ...}")
    zip: FreeForm = F({}, "varied together (lists of equal length), one axis of the grid")
    sample: FreeForm = F({}, "{key: {low: 1e-4, high: 1e-2, log: true}}: `samples` seeded draws")
    samples: NonNegativeInt = F(0, "number of random draws of `sample`")
    sample_seed: NonNegativeInt = F(0, "seed of the draws")
    metric: str | None = F(None, "metric of the summary and plots (default: accuracy_mean[-1])")


class Cluster(Section):
    kind: str | None = F(None, "dask-jobqueue batch system: slurm | pbs | sge | lsf | oar | htcondor | moab")
    cores: PositiveInt = F(1, "cores per job")
    processes: PositiveInt | None = F(None, "single-threaded workers per job (default: cores)")
    memory: str = F("2GB", "memory per job, e.g. 4GB")
    walltime: str | None = F("01:00:00", "HH:MM:SS per job")
    queue: str | None = F(None, "queue / partition")
    account: str | None = F(None, "account to charge")
    job_extra: list[str] = F([], "extra scheduler directives, e.g. ['--qos=short']")
    job_script_prologue: list[str] = F([], "shell lines before the worker starts (module load ...)")
    jobs: PositiveInt = F(2, "adapt(): at most this many jobs at once")
    minimum_jobs: NonNegativeInt = F(1, "adapt(): at least this many jobs")
    interface: str | None = F(None, "network interface of scheduler and workers (e.g. ib0; lo: this node only)")
    log_directory: str | None = F(None, "where the jobs' logs go")
    local_directory: str | None = F(None, "workers' scratch folder")


class Common(Section):
    study: str | None = F(None, "which study runs this config (supervised, pruning, forgetting, ...)")
    title: str = F("", "title of the run's summary and figures")
    seeds: list[NonNegativeInt] = F([0], "independent seeds, run as copies of the network in one run", min_length=1)
    workers: PositiveInt = F(1, "parallel Dask worker processes (1: run in this process)")
    scheduler: str | None = F(None, "address of an existing Dask scheduler (cluster); overrides workers")
    device: Device = F({}, "code generation target")
    data: Data = F({}, "the dataset")
    network: Network = F({}, "named layers and projections (bioplastic/network/spec.py)")
    protocol: Protocol = F({}, "how images are presented during training")
    evaluation: Evaluation = F({}, "batched evaluation of the snapshots")
    variants: dict[str, FreeForm | None] = F({}, "named override maps, each run as its own variant")
    templates: FreeForm = F({}, "YAML anchors that variants share (<<: *name); not read otherwise")
    quick: FreeForm = F({}, "overrides of --quick (dotted keys)")
    sweep: Sweep = F({}, "`bioplastic sweep`: the points and what to report")
    cluster: Cluster = F({}, "where a sweep runs when neither --workers nor --scheduler is given")

    @field_validator("seeds")
    @classmethod
    def _distinct(cls, seeds):
        if len(set(seeds)) != len(seeds):
            raise ValueError("the seeds must be distinct")
        return seeds


# ---------------------------------------------------------------- study sections

class Supervised(Section):
    random_class_sets: NonNegativeInt = F(0, "extra runs on random class sets of the same size")
    class_set_seed: NonNegativeInt = F(2025, "seed of those class sets")


class PruningStudy(Section):
    untrained_classes: list[int] = F([5, 6, 7, 8, 9], "classes never trained on, shown to probe pruning")
    n_probe: PositiveInt = F(200, "probe images per condition")
    noise_sigma_px: float = F(2.0, "std of the Gaussian noise images, in pixels", ge=0)
    probe_seed: NonNegativeInt = F(7, "seed of the probe images")


class Task(Section):
    dataset: Literal["mnist", "emnist_letters"] = F("mnist", "dataset of this task")
    classes: list[int | str] = F(list(range(10)), "its classes", min_length=1)
    n_train: PositiveInt = F(2000, "training images")
    n_test: PositiveInt = F(500, "test images")


class Freeze(Section):
    fraction: Fraction = F(0.0, "freeze this fraction of the largest weights after task 1")
    scope: Literal["global", "per_neuron"] = F("global", "largest over the whole projection or per target neuron")


class DenseLangevin(Section):
    enabled: bool = F(False, "Langevin weight ranges after task 1")
    n_images: PositiveInt = F(500, "task-1 images trained on with noise")
    sigma: float = F(0.01, "std of the Gaussian noise added to every weight after each image", ge=0)
    record_every: PositiveInt = F(10, "images between two weight snapshots")
    quantiles: list[Fraction] = F([0.25, 0.75], "each weight bounded between these quantiles of its snapshots",
                                  min_length=2, max_length=2)


class Forgetting(Section):
    task1: Task = F({"dataset": "mnist", "classes": list(range(10)), "n_train": 2000, "n_test": 500},
                    "task 1 (its classes on the first segments)")
    task2: Task = F({"dataset": "emnist_letters", "classes": list(range(26)), "n_train": 2600, "n_test": 520},
                    "task 2 (its classes on new segments)")
    eval_every: PositiveInt = F(520, "task-2 images between two tests of both tasks")
    freeze: Freeze = F({}, "freezing the largest weights")
    langevin: DenseLangevin = F({}, "Langevin weight ranges")
    protect: list[str] | None = F(None, "projections the protections act on (null: every plastic projection)")


class ForgettingReport(Section):
    default_baseline: str = F("global_inhibition", "forgetting reduction is relative to this variant ...")
    baselines: FreeForm = F({}, "... or to the one named here for a variant")
    panels: FreeForm = F({}, "panel title -> variant, for the 4-panel figure")


class Unsupervised(Section):
    n_label: PositiveInt = F(10000, "training images whose responses label the neurons")
    label_seed: NonNegativeInt = F(777, "which ones (balanced sample of the training split)")
    evaluate: Literal["last", "all"] = F("last", "last: only the trained network; all: every snapshot")
    eval_device: Literal["runtime", "cpp_standalone"] = F("runtime", "device of the batched evaluation")


class Encoding(Section):
    n_steps: PositiveInt = F(15, "time steps of the intensity-to-latency code")
    threshold: float = F(50.0, "difference-of-Gaussians responses below this are silent")
    normalization_radius: NonNegativeInt = F(8, "local contrast normalisation radius (pixels)")


class Conv(Section):
    encoding: Encoding = F({}, "difference-of-Gaussians and latency coding")
    engine: Literal["vectorized", "brian2"] = F("vectorized", "simulation of the time-to-first-spike layers")
    epochs: dict[str, NonNegativeInt] = F({}, "layer -> passes over the training images (every layer with a rule)")
    stdp_images: PositiveInt | None = F(None, "images for the STDP layers (null: all of data.n_train)")
    test_every: PositiveInt = F(1, "decision-layer epochs between two tests")


class ConvTask2(Section):
    dataset: Literal["mnist", "emnist_letters"] = F("emnist_letters", "task 2's dataset (`data` is task 1)")
    classes: list[int | str] = F(["a", "b", "d", "e", "g", "h", "n", "q", "r", "s"],
                                 "task 2's classes, mapped onto task 1's labels in order", min_length=1)
    n_train: PositiveInt = F(24000, "training images")
    n_test: PositiveInt = F(4000, "test images")
    epochs: dict[str, NonNegativeInt] = F({}, "task 2's epochs per learning layer")


class ConvLangevin(Section):
    sigma: float = F(4.0e-4, "std of the noise added to every weight after each update", ge=0)
    epochs: PositiveInt = F(1, "task-1 epochs of R-STDP with noise")
    snapshot_every: PositiveInt = F(100, "images between two snapshots")
    adaptive_int: float = F(0.5, "R-STDP rate adaptation strength during them", ge=0)
    ranges: dict[str, list[Fraction]] = F({"q1_q3": [0.25, 0.75], "d10_d90": [0.1, 0.9]},
                                          "named quantile ranges; each bounds every weight during task 2")

    @field_validator("ranges")
    @classmethod
    def _low_below_high(cls, ranges):
        for name, pair in ranges.items():
            if len(pair) != 2 or not pair[0] < pair[1]:
                raise ValueError(f"{name} must be [low, high] quantiles with 0 <= low < high <= 1, got {pair}")
        return ranges


class ConvForgetting(Section):
    radii: list[list[NonNegativeInt]] = F([[0, 0], [3, 1], [5, 1], [5, 2]],
                                          "inhibition radius of each STDP layer, in network order", min_length=1)
    protected_radii: list[NonNegativeInt] = F([3, 1], "the task 1 that the protections start from")
    protections: list[Literal["freeze", "langevin", "rehearsal", "joint", "fresh"]] = F(
        ["freeze", "langevin", "rehearsal", "joint"],
        "protections run from protected_radii (fresh: a new decision layer on the letters alone, their ceiling)")
    task1_state: Literal["best", "last"] = F("best", "the decision layer carried into task 2")
    task2_adaptive_int: float = F(0.5, "R-STDP rate adaptation strength in task 2", gt=0, le=10)
    adapt_once_per_epoch: bool = F(True, "the notebooks adapt R-STDP rates once per epoch")
    freeze_fraction: float = F(0.1, "freeze weights above the (1 - f) quantile", gt=0, le=1)
    rehearsal_fraction: float = F(0.1, "of each digit class's task-1 training images", gt=0, le=1)
    langevin: ConvLangevin = F({}, "Langevin ranges")

    @model_validator(mode="after")
    def _protected_radii_are_run(self):
        if self.protections and self.protected_radii not in self.radii:
            raise ValueError(f"forgetting.protected_radii {self.protected_radii} must be one of forgetting.radii "
                             f"{self.radii} (the protections start from that task 1)")
        return self


class Fi(Section):
    start: Quantity() = F("0 nA", "lowest current of the f-I curve (the family's current unit)")
    stop: Quantity() = F("0.6 nA", "highest current")
    n: Annotated[int, Field(ge=2)] = F(25, "currents")
    duration: Quantity("ms", ">0") = F("1000 ms", "duration of each")


class Step(Section):
    currents: list[Quantity()] = F(["0.1 nA"], "step currents of the voltage traces")
    delay: Quantity("ms", ">=0") = F("50 ms", "before the step")
    duration: Quantity("ms", ">0") = F("400 ms", "of the step")
    after: Quantity("ms", ">=0") = F("100 ms", "after it")


class FamilySettings(Section):
    dt: Quantity("ms", ">0") = F("0.1 ms", "time step")
    target: Literal["numpy", "cython"] = F("numpy", "code generation target of these small runs")
    fi: Fi = F({}, "f-I curve")
    step: Step = F({}, "step protocol")


def _neuron_settings() -> dict:
    from bioplastic.models import NEURON_MODELS
    from bioplastic.models.characterize import default_settings
    return {name: default_settings(name) for name in NEURON_MODELS}


class NeuronModels(Section):
    models: list[str] = F(["lif", "adaptive_lif", "izhikevich_rs", "izhikevich_fs", "hodgkin_huxley"],
                          "models characterised (f-I curve, rheobase, step traces)", min_length=1)
    network: bool = F(True, "part 2: train the network once per `variants` entry")
    fi_duration: Quantity("ms", ">0") | None = F(None, "overrides every model's fi.duration")
    fi_points: Annotated[int, Field(ge=2)] | None = F(None, "overrides every model's fi.n")
    rheobase_tolerance: float = F(0.001, "bisection stops at this fraction of the f-I current range", gt=0)
    settings: dict[str, FamilySettings] = Field(default_factory=_neuron_settings,
                                                description="per model: dt, target, fi, step")


#: The sections each study adds to :class:`Common`.
STUDY_SECTIONS: dict[str, dict[str, type[Section]]] = {
    "supervised": {"supervised": Supervised},
    "pruning": {"pruning_study": PruningStudy},
    "neuron_models": {"neuron_models": NeuronModels},
    "forgetting": {"forgetting": Forgetting, "forgetting_report": ForgettingReport},
    "unsupervised": {"unsupervised": Unsupervised},
    "conv_stdp": {"conv": Conv},
    "forgetting_conv": {"conv": Conv, "task2": ConvTask2, "forgetting": ConvForgetting},
}

_MODELS: dict[str, type[Common]] = {}


def study_model(study: str) -> type[Common]:
    """The schema of one study's config: :class:`Common` plus its sections."""
    if study not in _MODELS:
        sections = {name: (model, Field(default_factory=model, description=(model.__doc__ or "").strip()))
                    for name, model in STUDY_SECTIONS[study].items()}
        _MODELS[study] = create_model(f"{study.title().replace('_', '')}Config", __base__=Common, **sections)
    return _MODELS[study]


def defaults(study: str) -> dict:
    """Every key of a study's config with its default value."""
    return study_model(study)().model_dump()


def template(kind: str) -> dict:
    """Defaults of one entry of a named map: ``"layers"`` or ``"projections"``."""
    return {"layers": Layer, "projections": Projection}[kind]().model_dump()


def validate(config: dict, *, where: str = "") -> dict:
    """Parse a merged config against its study's schema: the checked, typed values (ints as
    ints, quantities as their text), or a ConfigError naming every wrong key."""
    try:
        return study_model(config["study"])(**config).model_dump()
    except ValidationError as exc:
        raise ConfigError(describe_errors(exc, where)) from None


def describe_errors(exc: ValidationError, where: str = "") -> str:
    """One line per wrong key: ``protocol.eval_every: ... (got -1)``."""
    lines = []
    for error in exc.errors(include_url=False):
        loc = ".".join(str(part) for part in error["loc"] if not _is_type_tag(part))
        message = error["msg"].removeprefix("Value error, ")
        got = error.get("input")
        shown = "" if isinstance(got, dict) else f" (got {got!r})"
        lines.append(f"{where}{loc}: {message}{shown}")
    unique = list(dict.fromkeys(lines))
    head = "invalid configuration" if len(unique) > 1 else "invalid configuration value"
    return (f"{head}:\n  " + "\n  ".join(unique) + "\n`bioplastic config --schema` lists every key with its type, "
            "range and default.")


def _is_type_tag(part) -> bool:
    """pydantic names the member of a union it tried (``int``, ``str``, ``function-after[...]``)."""
    return isinstance(part, str) and (part in {"int", "str", "float", "bool", "none"}
                                      or part.startswith(("function-", "constrained-", "list[", "dict[")))


#: How an entry of a named map appears in a dotted key.
_ENTRY = {"layers": "<layer>", "projections": "<projection>", "settings": "<model>"}


def schema_rows(model: type[BaseModel] | None = None, prefix: str = "") -> list[tuple]:
    """(key, type, default, description) of every key, nested sections flattened to dotted keys;
    a named map's entries appear as ``<layer>``, ``<projection>``, ``<model>``."""
    rows = []
    for name, field in (model or study_model("supervised")).model_fields.items():
        key = f"{prefix}{name}"
        section = _section_of(field.annotation)
        if section is not None:
            rows.extend(schema_rows(section, f"{key}.{_ENTRY[name]}." if name in _ENTRY else f"{key}."))
            continue
        rows.append((key, _type_name(field), field.get_default(call_default_factory=True), field.description or ""))
    return rows


def _section_of(annotation):
    """The section a field holds (itself, or as the values of a named map, or or-null)."""
    import typing
    for candidate in (annotation, *typing.get_args(annotation)):
        if isinstance(candidate, type) and issubclass(candidate, Section):
            return candidate
    return None


def _type_name(field) -> str:
    """A reader's name of a field's type: ``integer >= 1``, ``quantity in ms > 0, or null``."""
    kind = (field.json_schema_extra or {}).get("bioplastic_type") if isinstance(field.json_schema_extra, dict) else None
    if kind:
        return kind + (", or null" if field.default is None else "")
    return _describe(field.annotation, field.metadata)


def _describe(annotation, metadata=()) -> str:
    import types
    import typing

    from pydantic.fields import FieldInfo
    metadata = [m for meta in metadata for m in ([meta, *meta.metadata] if isinstance(meta, FieldInfo) else [meta])]
    ops = (("ge", ">="), ("gt", ">"), ("le", "<="), ("lt", "<"))
    bounds = [f"{op} {getattr(m, attr)}" for m in metadata for attr, op in ops if getattr(m, attr, None) is not None]
    extra = {}
    for meta in metadata:
        extra.update(getattr(meta, "json_schema_extra", None) or {})
    if "bioplastic_type" in extra:
        return extra["bioplastic_type"]
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin is Annotated:
        return _describe(args[0], [*annotation.__metadata__, *metadata])
    if origin in (typing.Union, types.UnionType):
        members = [a for a in args if a is not type(None)]
        text = " or ".join(_describe(a, metadata) for a in members)
        return text + (", or null" if len(members) < len(args) else "")
    if origin is Literal:
        return "one of " + ", ".join(str(a) for a in args)
    if origin is list:
        return f"list of {_describe(args[0])}" if args else "list"
    if origin is dict:
        return f"mapping of names to {_describe(args[1])}" if args and args[1] is not Any else "mapping"
    if isinstance(annotation, type) and issubclass(annotation, Section):
        return "section"
    name = {int: "integer", float: "number", str: "text", bool: "true/false"}.get(annotation, str(annotation))
    return name + (f" {', '.join(bounds)}" if bounds else "")


def markdown(studies: list[str]) -> str:
    """The schema as Markdown: the common keys, then each study's own sections."""
    def table(rows):
        lines = ["| key | type | default | meaning |", "|---|---|---|---|"]
        for key, kind, default, description in rows:
            kind, description = kind.replace("|", "/"), description.replace("|", "/")
            lines.append(f"| `{key}` | {kind} | {_short(default)} | {description} |")
        return "\n".join(lines)
    parts = ["## Keys of every study", "", table(schema_rows(Common))]
    for study in studies:
        rows = [row for name, model in STUDY_SECTIONS[study].items() for row in schema_rows(model, name + ".")]
        parts += ["", f"## study: {study}", "", table(rows)]
    return "\n".join(parts)


def _short(value) -> str:
    text = "null" if value is None else str(value).replace("|", "\\|")
    return f"`{text}`" if len(text) <= 60 else f"`{text[:57]}...`"
