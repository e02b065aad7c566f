"""Tables, figures and intervals from run directories (the only place that plots)."""

from routerlab.report.figures import save_figure, setup_style
from routerlab.report.stats import MeanCI, mean_ci
from routerlab.report.tables import fmt_ci, latex_paragraphs, latex_table, markdown_table

__all__ = ["MeanCI", "mean_ci", "fmt_ci", "latex_paragraphs", "latex_table", "markdown_table", "save_figure", "setup_style"]
