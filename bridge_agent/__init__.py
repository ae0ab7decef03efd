"""The in-Sprite bridge: pi in RPC mode behind a durable, numbered event stream.

Installed alone inside every Sprite; it imports nothing from the control plane.
"""

__version__ = "0.1.0"
