"""The Parley domain: aggregates, their events, and the use cases that drive them.

Nothing here imports Flask, Redis, RQ, tweepy or a SQL driver (an architecture test
checks it). Event classes carry explicit, stable topics (``parley.<Aggregate>.<Event>``)
so modules can move without rewriting stored events.
"""
