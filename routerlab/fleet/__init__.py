"""Routing across model fleets: routers that pick a model per query, and how to score them."""
