"""The select stage: which uncoded responses to code next (``select_rows``) and which coded ones to check
again (:mod:`synthgrade.select.audit`).

Coding is the costly step. ``select_rows`` ranks a pool of uncoded responses with a query strategy from
:data:`STRATEGIES` (cold start: representative responses per item; once a cheap scorer can be fitted on the
coded rows: its uncertainty, weighted by how typical a response is, spread over the items), and gives the
scorer's guess for each. ``find_suspects`` ranks coded rows by how likely their label is wrong.
"""

from synthgrade.select.core import OUTPUT_COLUMNS, select_rows
from synthgrade.select.strategies import DEFAULT_STRATEGY, STRATEGIES, Strategy

__all__ = ["DEFAULT_STRATEGY", "OUTPUT_COLUMNS", "STRATEGIES", "Strategy", "select_rows"]
