"""Hyperliquid trader tracking inside the venue's weight budget (docs/tracker.md): the rotation and
cursors in Redis (rotation.py), the cycle of states and the readers of fills and equity
(tracker.py), the figures for metrics and /ready (figures.py), the coins discovery reads (coins.py).
What each request answers and weighs: services/receivers/exchanges/hyperliquid/traders.py."""
