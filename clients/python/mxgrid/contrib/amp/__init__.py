"""mx.contrib.amp: automatic mixed precision (see amp.py)."""
from .amp import *  # noqa: F401,F403
