"""Errors that tell the user what was wrong and how to fix it."""


class BioplasticError(Exception):
    """Base class: every error bioplastic raises on purpose is one of these."""


class ConfigError(BioplasticError, ValueError):
    """A configuration value or key is invalid."""


class ModelError(BioplasticError, ValueError):
    """A neuron or synapse model (equations, parameters, units) is invalid."""


class DataError(BioplasticError, OSError):
    """A dataset file is missing, corrupt or not what it claims to be."""
