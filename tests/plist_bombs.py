"""Binary plists whose arrays refer to one object many times over: a few hundred bytes, 10^10 paths.

plistlib writes a Python object it meets again as a reference to the one already written, so a list
holding the same list a hundred times, five levels deep, encodes in about 600 bytes. Apple's writer
never shares arrays or dictionaries (only strings, numbers, dates and data), so no device sends one.
"""
import plistlib

PATHS = 100 ** 5


def path_bomb(keys: dict, *, levels: int = 5, fanout: int = 100, key: str = "Bomb") -> bytes:
    """``keys`` plus ``key``: ``levels`` nested arrays of ``fanout`` references each (fanout**levels paths)."""
    value: object = "leaf"
    for _ in range(levels):
        value = [value] * fanout
    return plistlib.dumps({**keys, key: value}, fmt=plistlib.FMT_BINARY)
