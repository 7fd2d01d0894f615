"""Scaffolding templates for ``liqbt new-strategy`` (``*.tmpl`` files next to this module).

>>> text = render("strategy.py.tmpl", name="my_idea")
>>> "class MyIdea(Strategy):" in text and 'name = "my_idea"' in text
True
"""

from __future__ import annotations

import keyword
import logging
import os
import re
from importlib import resources
from pathlib import Path

from liqbt.errors import InputError

log = logging.getLogger(__name__)

_NAME = re.compile(r"^[a-z][a-z0-9_]*$")


def class_name(name: str) -> str:
    """``my_idea`` → ``MyIdea``."""
    return "".join(part.capitalize() for part in name.split("_") if part)


def check_name(name: str) -> str:
    """A strategy name must be a lowercase Python identifier (it becomes the module name)."""
    if not _NAME.match(name) or keyword.iskeyword(name) or name.startswith("test"):
        raise InputError(
            f"invalid strategy name {name!r}",
            expected="lowercase letters, digits and _ (starting with a letter, not 'test...'), e.g. my_idea",
        )
    return name


def render(template: str, **values: str) -> str:
    """Fill ``{{key}}`` placeholders of a template (``class_name`` is derived from ``name``)."""
    values.setdefault("class_name", class_name(values["name"]))
    text = resources.files(__name__).joinpath(template).read_text()
    for key, value in values.items():
        text = text.replace("{{" + key + "}}", value)
    return text


def scaffold_strategy(name: str, strategy_dir: str | Path, test_dir: str | Path,
                      config_dir: str | Path | None = None) -> tuple[Path, ...]:
    """Write ``strategy_dir/NAME.py``, ``test_dir/test_NAME.py`` and (with ``config_dir``) a run
    config ``config_dir/NAME.toml`` on the demo market; refuse to overwrite any of them.

    Returns the written paths: ``(module, test)`` or ``(module, test, config)``.
    """
    check_name(name)
    module = Path(strategy_dir) / f"{name}.py"
    test = Path(test_dir) / f"test_{name}.py"
    config = Path(config_dir) / f"{name}.toml" if config_dir is not None else None
    for path in (module, test, config):
        if path is None:
            continue
        if path.exists():
            raise InputError(f"{path} already exists; not overwriting", expected="a new strategy name or another --dir")
    rel = os.path.relpath(Path(strategy_dir).resolve(), Path(test_dir).resolve())
    module_text = render("strategy.py.tmpl", name=name)
    test_text = render("test_strategy.py.tmpl", name=name, strategy_dir=repr(Path(rel).as_posix()))
    module.parent.mkdir(parents=True, exist_ok=True)
    test.parent.mkdir(parents=True, exist_ok=True)
    module.write_text(module_text)
    test.write_text(test_text)
    log.info("wrote %s and %s", module, test)
    if config is None:
        return module, test
    to_module = os.path.relpath(Path(strategy_dir).resolve(), Path(config_dir).resolve())
    config.parent.mkdir(parents=True, exist_ok=True)
    config.write_text(render("config.toml.tmpl", name=name, config_path=config.as_posix(),
                             strategy_dir='"' + Path(to_module).as_posix() + '"'))
    log.info("wrote %s", config)
    return module, test, config
