"""Benchmarks: MoE dispatch against a FLOP-matched dense FFN, and router/bandit baselines."""
