"""routerlab: learned routing inside models (Mixture-of-Experts) and across models (fleets, bandits)."""

__version__ = "0.1.0"
