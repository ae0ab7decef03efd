"""The model gateway: every model call of every Sprite goes through here.

pi in a Sprite knows only the gateway's URL (``<STARTER_GATEWAY_URL>/p/<provider>``) and the
project's gateway token; the gateway checks the token, admits the call (budgets, loop
guard), swaps in the owner's real provider key, streams the provider's answer back
unchanged, and writes what the provider says the call used to the ledger (``UsageRecord``).
Provider keys never leave the control plane.

Rooms: ``models`` (tokens, ledger, limits, policy), ``calls`` (the shapes the rooms pass
each other), ``tokens`` (minting, revoking, resolving), ``upstreams`` (where a provider
really is and how it takes its key), ``pricing``, ``usage_parsers`` (what each API shape
reports), ``metering`` (the ledger and its live updates), ``admission`` (budgets and the
loop guard, before a call), ``budgets``, ``guard``, ``limits`` (reading and changing
budgets and guard settings), ``run_control`` ("continue"/"stop" of a paused run), ``usage``
(totals for pages and the API), ``proxy`` (the ASGI app), ``pi_config`` (what pi in a
Sprite is told).
"""
