"""Hydra's composition errors as one `error:` line that names the nearest valid keys or options: a mistyped
key (`trainer.max_iteratons=3`), an unknown preset (`experiment=coco_512`), `+` on a key that exists, `~` on
one that does not, an override that does not parse. Hydra raises these while it composes the config, before
run.py's task function runs, and prints several lines; `one_line_config_errors()` wraps that composition."""

from __future__ import annotations

import contextlib
import difflib
import os
import re
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from hydra.errors import ConfigCompositionException, MissingConfigException, OverrideParseException
from omegaconf import DictConfig

from lama.cli import fail

MAX_LISTED = 12  # options named after "available:" before "..."
# The key (or group) an override sets: `~`, `+` or `++` in front, `@package` and `=value` behind.
OVERRIDE_KEY = re.compile(r"^(?:~|\+\+|\+)?([^=@~+]+)")


def override_key(override: str) -> str:
    """The key or group a command-line override names (`+trainer.x=3` -> `trainer.x`)."""
    found = OVERRIDE_KEY.match(override.strip())
    return found.group(1).strip() if found else override


def nearest(word: str, candidates: Sequence[str], n: int = 1) -> list[str]:
    """The candidates closest to `word`: among names that differ only in a trailing number, the nearest
    number (coco_512 -> coco_256); otherwise difflib's closest spellings."""
    numbered = re.fullmatch(r"(.*?)(\d+)", word)
    if numbered:
        prefix, number = numbered.group(1), int(numbered.group(2))
        same = [c for c in candidates if re.fullmatch(re.escape(prefix) + r"\d+", c)]
        if same:
            return sorted(same, key=lambda c: (abs(int(c[len(prefix):]) - number), c))[:n]
    return difflib.get_close_matches(word, list(candidates), n=n, cutoff=0.6)


def config_keys(cfg: DictConfig, prefix: str = "") -> list[str]:
    """Every dotted key of `cfg`, nested ones included, without resolving interpolations."""
    keys = []
    for key, value in cfg.items_ex(resolve=False):
        path = f"{prefix}{key}"
        keys.append(path)
        if isinstance(value, DictConfig) and not (value._is_none() or value._is_missing()):
            keys.extend(config_keys(value, path + "."))
    return keys


def _listing(options: Sequence[str]) -> str:
    shown = sorted(options)[:MAX_LISTED]
    return ", ".join(shown) + (", ..." if len(options) > MAX_LISTED else "")


def _groups(loader: Any) -> list[str]:
    """Config groups (`data`, `experiment`, `hydra/launcher`, ...): what `key=option` may name besides keys."""
    groups = []
    for group in loader.list_groups(""):
        groups.append(group)
        groups.extend(f"{group}/{sub}" for sub in loader.list_groups(group))
    return groups


def missing_option_line(err: MissingConfigException, overrides: Sequence[str]) -> str:
    """`experiment=coco_512 is not a preset; did you mean coco_256? (available: ...)`."""
    missing = str(err.missing_cfg_file)
    given = [override_key(o) for o in overrides if missing.startswith(override_key(o) + "/")]
    group = max(given, key=len) if given else missing.rsplit("/", 1)[0]
    option = missing[len(group) + 1:]
    options = list(err.options or [])
    if not options:
        return f"{group} is not a config group, so {group}={option} names nothing"
    where = re.match(r"In '([^']+)'", str(err))
    line = (f"{group}={option} is not a preset" if given or where is None
            else f"{where.group(1)} asks for {group}={option}, which is not a preset")
    suggestion = nearest(option, options)
    if suggestion:
        line += f"; did you mean {suggestion[0]}?"
    return f"{line} (available: {_listing(options)})"


def unknown_key_line(key: str, candidates: Sequence[str], delete: bool = False) -> str:
    """`trainer.max_iteratons is not a config key; did you mean trainer.max_iterations?` (+ how to add it)."""
    parent, _, last = key.rpartition(".")
    children = [c[len(parent) + 1:] for c in candidates if c.startswith(parent + ".")] if parent else list(candidates)
    children = [c for c in children if "." not in c]
    line = f"{key} is not a config key"
    if not parent or parent in candidates:  # a typo in the last part: the nearest key beside it
        suggestion = [f"{parent}.{c}" if parent else c for c in nearest(last, children)]
    else:  # a typo further up (trainr.max_iterations): the nearest key of the same depth
        suggestion = nearest(key, [c for c in candidates if c.count(".") == key.count(".")])
    leaf_parent = parent in candidates and not children
    notes = [] if delete or leaf_parent else [f"+{key}=... adds it as a new key"]
    if suggestion:
        line += f"; did you mean {'~' if delete else ''}{suggestion[0]}?"
    elif leaf_parent:
        notes.insert(0, f"{parent} holds a value, not keys")
    elif parent in candidates:
        notes.insert(0, f"{parent} has: {_listing(children)}")
    return f"{line} ({'; '.join(notes)})" if notes else line


def _one_line(err: BaseException) -> str:
    """Hydra's message (and its cause's) with the lines joined."""
    lines = [line.strip() for line in str(err).splitlines() if line.strip()]
    if isinstance(err.__cause__, Exception):
        lines.append(next((ln.strip() for ln in str(err.__cause__).splitlines() if ln.strip()), ""))
    return "; ".join(line.rstrip(".") for line in lines if line)


def composition_error_line(err: Exception, overrides: Sequence[str], compose: Callable[[list[str]], DictConfig],
                           loader: Any) -> str:
    """One line for a Hydra composition error; `compose(overrides)` composes again (for the valid keys)."""
    if isinstance(err, MissingConfigException) and err.missing_cfg_file:
        return missing_option_line(err, overrides)
    text = str(err)
    if isinstance(err, OverrideParseException):
        return f"cannot parse the overrides: {_one_line(err)}"
    unknown = re.match(r"Could not override '([^']+)'\.\nTo append to your config use", text)
    deleted = re.match(r"Could not delete from config\. '([^']+)' does not exist", text)
    if unknown or deleted:
        key = (unknown or deleted).group(1)
        keep = [o for o in overrides if override_key(o) != key]
        keys: list[str] = []
        for attempt in (keep, []):  # the config without the bad override; failing that, the defaults
            try:
                keys = config_keys(compose(attempt))
                break
            except (ConfigCompositionException, OverrideParseException):
                continue
        return unknown_key_line(key, keys + _groups(loader), delete=bool(deleted))
    added = re.match(r"Could not append to config\. An item is already at '([^']+)'", text)
    if added:
        key = added.group(1)
        return f"+{key}: {key} is already a config key; drop the + ({key}=...) or write ++{key}=... to set it either way"
    return _one_line(err)


@contextlib.contextmanager
def one_line_config_errors() -> Iterator[None]:
    """While active, a config Hydra cannot compose from the command line ends the program with one `error:`
    line and exit status 2 instead of Hydra's several lines (HYDRA_FULL_ERROR=1 keeps Hydra's own report)."""
    # Every run, multirun job, --cfg and --help composes through this method (Hydra 1.3); Hydra catches and
    # prints its exceptions itself before they reach run.py, so the conversion has to happen here.
    from hydra._internal.config_loader_impl import ConfigLoaderImpl

    original = ConfigLoaderImpl.load_configuration

    def load_configuration(self, config_name, overrides, run_mode, *args, **kwargs):  # noqa: ANN001, ANN202
        try:
            return original(self, config_name, overrides, run_mode, *args, **kwargs)
        except (ConfigCompositionException, OverrideParseException) as err:
            if os.environ.get("HYDRA_FULL_ERROR") == "1":
                raise

            def compose(attempt: list[str]) -> DictConfig:
                return original(self, config_name, attempt, run_mode)

            fail(composition_error_line(err, list(overrides), compose, self))

    ConfigLoaderImpl.load_configuration = load_configuration
    try:
        yield
    finally:
        ConfigLoaderImpl.load_configuration = original
