"""mx.contrib: MXNet's experimental APIs; mxgrid has amp (which refuses, see amp.py)."""
