"""Network assembly: connectivity patterns and the plastic input -> excitatory <-> inhibitory network."""
