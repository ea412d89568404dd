"""Reading a study file's YAML strictly: UTF-8 text only, and no key given twice in one mapping.

PyYAML's safe loader keeps the last of two equal keys without a word, so `train:` written twice silently
drops the first block; here it is an error at the line of the second key.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from harness.errors import HarnessError


class UniqueKeyLoader(yaml.SafeLoader):
    """SafeLoader that refuses a key given twice in the same mapping."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict:
        self.flatten_mapping(node)  # `<<: *anchor` merges are not duplicates
        first_seen: dict[Any, int] = {}
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            try:
                line = first_seen.setdefault(key, key_node.start_mark.line)
            except TypeError:
                continue  # an unhashable key: SafeLoader's own error says so below
            if line != key_node.start_mark.line:
                raise yaml.constructor.ConstructorError(
                    None, None, f"key {key!r} is given twice (first at line {line + 1}); keep one", key_node.start_mark)
        return super().construct_mapping(node, deep=deep)


def read_yaml(path: Path) -> Any:
    """The YAML document in `path`; a HarnessError naming the file (and line) for anything unreadable."""
    if path.is_dir():
        raise HarnessError(f"{path}: is a folder; give a study file such as experiments/house_prices.yaml")
    if not path.is_file():
        raise HarnessError(f"{path}: no such study file (study files live in experiments/, e.g. "
                           "experiments/house_prices.yaml)")
    data = path.read_bytes()
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as err:
        raise HarnessError(f"{path}: not UTF-8 text (byte 0x{data[err.start]:02x} at offset {err.start}); a study "
                           "file is YAML text, saved as UTF-8") from None
    if "\x00" in text:
        raise HarnessError(f"{path}: holds a NUL byte at offset {text.index(chr(0))}, so it is a binary file, not "
                           "a YAML study file")
    try:
        return yaml.load(text, Loader=UniqueKeyLoader)
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark else ""
        problem = getattr(err, "problem", None) or str(err).splitlines()[0]
        raise HarnessError(f"{path}: not valid YAML{where}: {problem}") from None
