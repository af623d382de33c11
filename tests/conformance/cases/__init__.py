"""Case modules, one per Autobahn category; importing them registers their cases."""
from cases import (framing, pingpong, reserved_bits, opcodes, fragmentation, utf8, close,  # noqa
                   large, limits)
