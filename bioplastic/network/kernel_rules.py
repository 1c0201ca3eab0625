"""Learning rules of convolutional STDP networks, applied once per image to the winners' kernels.

Only the winners of an image learn (``competition.k_winners``), at most one per feature
map, so each shared kernel changes at most once per image and the update is exact: it is
the sum of the winners' updates, with nothing summed over positions. The pairing is
SpykeTorch's (Mozafari et al. 2019): an input that fired no later than the winner is
"pre before post"; an input that never fired, or lies in the zero padding, is not.

- :class:`KernelSTDP`: Δw = a·(w − w_min)(w_max − w) (the "stabiliser"; plain Δw = a without
  it), a⁺ for pre-before-post pairs, a⁻ otherwise, then clamped to [w_min, w_max]. Rates
  double every ``double_every`` images up to ``a_plus_max`` with a⁻ = ``a_minus_ratio``·a⁺
  (MozafariDeep's schedule).
- :class:`RewardSTDP`: the decision layer's R-STDP. On reward (correct class) STDP with
  (a⁺_r, a⁻_r); on punishment anti-STDP: pre-before-post pairs get a⁻_p < 0, the others
  a⁺_p > 0; silence changes nothing. The reward is a global scalar that only gates which of
  the two local updates a synapse applies (a third factor). Rates adapt after every
  ``adapt_every`` images: reward rates × (fraction wrong · adaptive_int + adaptive_min),
  punishment rates × (fraction correct · adaptive_int + adaptive_min).

All arrays are numpy; first-spike times are time steps with ``inf`` for "never fired".
"""
from __future__ import annotations

from dataclasses import dataclass, fields, replace

import numpy as np

from bioplastic.errors import ConfigError
from bioplastic.network.topology import receptive_fields


def _checked(cls, parameters: dict | None, where: str):
    """An instance of the rule dataclass ``cls`` with ``parameters`` (unknown keys refused)."""
    known = {f.name: f for f in fields(cls)}
    parameters = dict(parameters or {})
    unknown = sorted(set(parameters) - set(known))
    if unknown:
        raise ConfigError(f"{where}: unknown parameter(s) {', '.join(unknown)} of rule {cls.name!r}; "
                          f"known: {', '.join(known)}.")
    values = {}
    for key, value in parameters.items():
        kind = type(getattr(cls, key))
        number = isinstance(value, (int, float)) and not isinstance(value, bool)
        if kind is bool and isinstance(value, bool):
            values[key] = value
        elif kind is int and number and int(value) == value:
            values[key] = int(value)
        elif kind is float and number:
            values[key] = float(value)
        else:
            raise ConfigError(f"{where}.{key} must be {'an integer' if kind is int else f'a {kind.__name__}'}, "
                              f"got {value!r}.")
    rule = replace(cls(), **values)
    rule.check(where)
    return rule


def _check_bounds(rule, where: str) -> None:
    if not rule.w_min < rule.w_max:
        raise ConfigError(f"{where}: w_min must be < w_max, got {rule.w_min} and {rule.w_max}.")


@dataclass(frozen=True)
class KernelSTDP:
    name = "stdp_kernel"
    a_plus: float = 0.004
    a_minus: float = -0.003
    w_min: float = 0.0
    w_max: float = 1.0
    stabilizer: bool = True
    double_every: int = 500          # images; 0 keeps the rates constant
    a_plus_max: float = 0.15
    a_minus_ratio: float = -0.75

    def check(self, where: str) -> None:
        _check_bounds(self, where)
        if self.double_every < 0:
            raise ConfigError(f"{where}.double_every must be >= 0 (0: constant rates), got {self.double_every}.")

    def rates(self, image_number: int) -> tuple[float, float]:
        """(a⁺, a⁻) for the ``image_number``-th image this layer trains on (1-based).

        SpykeTorch doubles a⁺ on the 500th, 1000th, ... image, before that image's update.
        """
        doublings = image_number // self.double_every if self.double_every else 0
        if not doublings:
            return self.a_plus, self.a_minus
        a_plus = min(self.a_plus * 2.0 ** min(doublings, 1000), self.a_plus_max)
        return a_plus, self.a_minus_ratio * a_plus


@dataclass(frozen=True)
class RewardSTDP:
    name = "rstdp"
    a_plus_reward: float = 0.004
    a_minus_reward: float = -0.003
    a_plus_punish: float = 0.0005        # inputs that did not fire before the winner, on punishment
    a_minus_punish: float = -0.004       # inputs that fired before the winner, on punishment
    w_min: float = 0.2
    w_max: float = 0.8
    stabilizer: bool = False
    adapt_every: int = 1000              # images per rate adaptation (0: never adapt)
    adaptive_int: float = 1.0
    adaptive_min: float = 0.0

    def check(self, where: str) -> None:
        _check_bounds(self, where)
        if self.adapt_every < 0:
            raise ConfigError(f"{where}.adapt_every must be >= 0, got {self.adapt_every}.")

    def adapted(self, correct: float, wrong: float) -> RewardSTDP:
        """The rule with MozafariDeep's adapted rates, from one batch's fractions correct/wrong."""
        reward = wrong * self.adaptive_int + self.adaptive_min
        punish = correct * self.adaptive_int + self.adaptive_min
        base = type(self)()
        return replace(self, a_plus_reward=base.a_plus_reward * reward, a_minus_reward=base.a_minus_reward * reward,
                       a_plus_punish=base.a_plus_punish * punish, a_minus_punish=base.a_minus_punish * punish)


@dataclass(frozen=True)
class SupervisedKernel:
    """The dissertation's supervised STDP + All-LTD, for a decision layer with maps per class.

    The label's most excited map (at its best position) learns by STDP: inputs that fired
    get a⁺, the others a⁻. When a map of another class won, that winner learns by All-LTD:
    both branches depress (fired inputs −a⁺, the others a⁻). No reward signal, no rate
    adaptation: the label itself selects who learns what, as in the dense networks'
    ``supervised`` rule.
    """
    name = "supervised_alltd"
    a_plus: float = 0.004
    a_minus: float = -0.003
    w_min: float = 0.2
    w_max: float = 0.8
    stabilizer: bool = False
    adapt_every: int = 0

    def check(self, where: str) -> None:
        _check_bounds(self, where)
        if self.a_plus <= 0 or self.a_minus >= 0:
            raise ConfigError(f"{where}: a_plus must be > 0 and a_minus < 0 (got {self.a_plus}, {self.a_minus}).")


KERNEL_RULES = {rule.name: rule for rule in (KernelSTDP, RewardSTDP, SupervisedKernel)}


def kernel_rule_from_config(section: dict | None, where: str):
    """The rule of a projection's ``plasticity`` section (None: frozen)."""
    if section is None:
        return None
    name = section.get("rule")
    if name not in KERNEL_RULES:
        raise ConfigError(f"{where}.rule: {name!r} is not a rule of convolutional networks; choose one of "
                          f"{', '.join(KERNEL_RULES)}.")
    return _checked(KERNEL_RULES[name], section.get("parameters"), f"{where}.parameters")


def pre_before_post(input_first: np.ndarray, winners: np.ndarray, winner_first: np.ndarray,
                    kernel_size, stride=1, padding=0) -> np.ndarray:
    """Boolean (n winners, in maps, kh, kw): did each input of the winner's window fire no later than it?

    ``input_first`` is the (in maps, rows, cols) first-spike step of the input layer
    (``inf``: silent); padding counts as silent.
    """
    windows = receptive_fields(input_first, winners[:, 1:], kernel_size, stride, padding, fill=np.inf)
    return windows <= np.asarray(winner_first, dtype=np.float64)[:, None, None, None]


def apply_update(weights: np.ndarray, index: np.ndarray, rate: np.ndarray, *, w_min: float, w_max: float,
                 stabilizer: bool) -> None:
    """In place: ``weights[index]`` (kernels of maps, or single synapses) += rate (× (w − w_min)(w_max − w)
    with the stabiliser), clamped."""
    kernels = weights[index]
    delta = rate * (kernels - w_min) * (w_max - kernels) if stabilizer else rate
    weights[index] = np.clip(kernels + delta, w_min, w_max)


def stdp_step(rule: KernelSTDP, weights: np.ndarray, image_number: int, input_first: np.ndarray,
              winners: np.ndarray, winner_first: np.ndarray, kernel_size, stride=1, padding=0) -> None:
    """One image of STDP on shared kernels (n_maps, in maps, kh, kw), in place."""
    if not len(winners):
        return
    a_plus, a_minus = rule.rates(image_number)
    pairs = pre_before_post(input_first, winners, winner_first, kernel_size, stride, padding)
    apply_update(weights, winners[:, 0], np.where(pairs, a_plus, a_minus), w_min=rule.w_min, w_max=rule.w_max,
                 stabilizer=rule.stabilizer)


def local_stdp_step(rule: KernelSTDP, weights: np.ndarray, image_number: int, source_first: np.ndarray,
                    synapse_pre: np.ndarray, synapse_post: np.ndarray, winners: np.ndarray,
                    winner_first: np.ndarray) -> None:
    """STDP of a locally connected projection (one weight per synapse), in place.

    Each winner (a flat neuron index) updates only the synapses onto it: a⁺ where its input
    (``source_first``, flat, ``inf`` silent) fired no later than the winner, a⁻ otherwise.
    """
    if not len(winners):
        return
    a_plus, a_minus = rule.rates(image_number)
    first_of = dict(zip(np.asarray(winners).tolist(), np.asarray(winner_first, dtype=np.float64).tolist()))
    learns = np.isin(synapse_post, winners)
    syn = np.flatnonzero(learns)
    t_post = np.array([first_of[j] for j in synapse_post[syn]])
    rate = np.where(source_first[synapse_pre[syn]] <= t_post, a_plus, a_minus)
    apply_update(weights, syn, rate, w_min=rule.w_min, w_max=rule.w_max, stabilizer=rule.stabilizer)
