"""bioplastic: biologically plausible learning in spiking neural networks, on Brian2.

Data flows one way: config -> dataset -> encoding/protocol -> network (built from
models) -> device run -> spike/weight records -> readout/metrics -> results -> plots.
"""
__version__ = "0.1.0"

from bioplastic.errors import BioplasticError, ConfigError, DataError, ModelError  # noqa: F401
