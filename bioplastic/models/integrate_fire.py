"""Non-leaky integrate-and-fire with one spike per presentation (time-to-first-spike).

The neurons of convolutional STDP networks (Kheradpisheh et al. 2018; Mozafari et al.
2019): the potential ``v`` is the running sum of the weights of the inputs that have fired
so far in the presentation, with no leak and no reset on a spike; a neuron fires once, the
first time ``v`` exceeds ``v_thresh``, and records when (``t_first``) and at which potential
(``v_first``) it did; competition and learning read those two. Everything is put back to
rest between presentations by the network (``resting_state_code``).

Potentials and thresholds are dimensionless, in units of a synaptic weight (kernel
weights lie in [0, 1]), as in the reference implementation (SpykeTorch): S1's threshold
15 means "the summed weights of the inputs fired so far exceed 15". A leaky variant is
one equation line away: ``equations: {v: "dv/dt = -v/tau_leak : 1"}`` plus
``extra_parameters: {tau_leak: 20 ms}``.

A pooling unit is the same neuron with ``v_thresh = 0`` and unit weights: it fires at its
first input spike (a first-spike gate, max pooling on spike times).
"""

from bioplastic.models.base import NeuronModel

IF_FIRST_SPIKE = NeuronModel(
    name="if_first_spike",
    description=("Non-leaky integrate-and-fire that fires at most once per presentation (time-to-first-spike); "
                 "potential in units of a synaptic weight."),
    equations="""
v : 1
spiked : 1
t_first : second
v_first : 1
""",
    threshold="v > v_thresh and spiked == 0",
    reset="spiked = 1\nt_first = t\nv_first = v",
    parameters=dict(v_thresh=15.0),
    initial_values={"v": 0.0, "spiked": 0.0, "t_first": "1e9*second", "v_first": 0.0},
    method="euler",
    excitatory_input="v",
    inhibitory_input=None,
    current_input=None,
    reference="S. R. Kheradpisheh et al. (2018) Neural Netw. 99:56-67; M. Mozafari et al. (2019) "
              "Pattern Recognit. 94:87-95",
)
