"""Pictures of searches and sweeps, drawn with matplotlib's object API (no pyplot, no display):
the searched net, how its probabilities moved, the cost of each layer, the accuracy-latency
front of a sweep and the hardware matrix."""

from hwnas.pictures.architecture import draw_architecture
from hwnas.pictures.files import save_figure
from hwnas.pictures.hardware_matrix import draw_hardware_matrix
from hwnas.pictures.layer_costs import draw_layer_costs
from hwnas.pictures.pareto import draw_pareto_on
from hwnas.pictures.probabilities import draw_prob_history

__all__ = [
    "draw_architecture",
    "draw_hardware_matrix",
    "draw_layer_costs",
    "draw_pareto_on",
    "draw_prob_history",
    "save_figure",
]
