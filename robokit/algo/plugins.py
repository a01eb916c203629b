"""Algorithms from outside robokit: import a user's module by path, or an installed package's entry point.

A plugin is ordinary Python that registers a config class (a `BaseConfig` subclass with `ALGO_NAME`) and a
factory (`@register_algo_factory_func(NAME)`), exactly like a built-in family. It reaches robokit in one of
three ways, always because the user named it:

    load_algo_module("my_algo.py")        # one file, imported as module `my_algo`
    load_algo_module("my_pkg/")           # a package folder (with __init__.py), imported as `my_pkg`
    load_algo_module("my_pkg.zip")        # a zip of one such file or folder, imported from the zip
    load_algo_module("my_installed_pkg")  # an importable module name (e.g. an installed package)
    load_entry_point_algo("my_algo")      # the installed package whose `robokit.algos` entry point is "my_algo"

Installed packages declare themselves in their metadata (setup.py / pyproject.toml):

    entry_points={"robokit.algos": ["my_algo = my_pkg.my_algo"]}    # name = the algorithm, value = its module

The module name is stable (the file's or folder's name), so a checkpoint can record it. Each imported module
carries `__robokit_origin__` = {"module", "path", "sha256", "kind"}; `algo_origin(name)` reads it (or computes
it for an installed module) and checkpoints store it as `algo_origin`. The sha256 covers the module's code: the
file's bytes, or for a package (folder or zip) every .py file's relative path and bytes in sorted order, so a
folder and its zip hash alike.

Every failure is one ConfigError line: a path that does not exist, a module that fails to import (the error's
last line, no traceback), a module that registers nothing, or a name already registered (a built-in's or
another plugin's). A failed import registers nothing: its partial registrations are rolled back.
"""

import hashlib
import importlib
import importlib.metadata
import importlib.util
import re
import sys
import zipfile
import zipimport
from pathlib import Path
from types import ModuleType

from robokit.algo.registry import REGISTERED_ALGO_FACTORY_FUNCS
from robokit.config.registry import REGISTERED_CONFIGS
from robokit.errors import ConfigError

ENTRY_POINT_GROUP = "robokit.algos"
ORIGIN_ATTR = "__robokit_origin__"
_REGISTRATION_HINT = ("fix: subclass robokit.config.BaseConfig with ALGO_NAME = 'NAME' and decorate its factory with "
                      "@register_algo_factory_func('NAME')")


# ----------------------------------------------------------------- hashing


def _sha256_files(files: dict[str, bytes]) -> str:
    """sha256 over sorted (relative path, content) pairs: one hash for a package's code wherever it lives."""
    digest = hashlib.sha256()
    for rel in sorted(files):
        digest.update(rel.encode() + b"\0" + hashlib.sha256(files[rel]).digest())
    return digest.hexdigest()


def _package_files(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in folder.rglob("*.py")
            if "__pycache__" not in p.parts}


def code_sha256(path: "str | Path") -> str:
    """The sha256 of a plugin's code: a .py file's bytes; a package folder's or a zip's .py files (paths + bytes)."""
    path = Path(path)
    if path.is_dir():
        return _sha256_files(_package_files(path))
    if path.suffix == ".zip":
        with zipfile.ZipFile(path) as archive:
            return _sha256_files({n: archive.read(n) for n in archive.namelist() if n.endswith(".py")
                                  and "__pycache__" not in n})
    return hashlib.sha256(path.read_bytes()).hexdigest()


# ----------------------------------------------------------------- importing


def _module_name(stem: str) -> str:
    """A Python identifier from a file or folder name (`my-algo` -> `my_algo`)."""
    name = re.sub(r"\W", "_", stem)
    return f"_{name}" if name[:1].isdigit() else name


def _zip_top_level(path: Path) -> tuple[str, bool]:
    """(module name, is_package) of the one module or package at the top of a zip, or inside its one folder."""
    try:
        with zipfile.ZipFile(path) as archive:
            names = [n for n in archive.namelist() if "__pycache__" not in n]
    except zipfile.BadZipFile:
        raise ConfigError(f"--algo_module {path} is not a readable zip file; fix: zip the plugin's .py file or "
                          "package folder (zip -r my_algo.zip my_algo/)") from None
    packages = sorted({n.split("/")[0] for n in names if n.count("/") == 1 and n.endswith("/__init__.py")})
    modules = sorted(n[:-3] for n in names if "/" not in n and n.endswith(".py"))
    if len(packages) + len(modules) != 1:
        found = ", ".join(packages + [m + ".py" for m in modules]) or "no .py file or package at its top level"
        raise ConfigError(f"--algo_module {path} must hold exactly one module or package at its top level, found: "
                          f"{found}; fix: zip a single my_algo.py or my_algo/ folder with __init__.py")
    return (packages[0], True) if packages else (modules[0], False)


def _spec_for_path(path: Path):
    """(module name, ModuleSpec, kind) for a .py file, a package folder or a zip."""
    if path.is_dir():
        init = path / "__init__.py"
        if not init.is_file():
            raise ConfigError(f"--algo_module {path} is a folder without __init__.py; fix: add one (it imports the "
                              "modules that register the algorithm) or pass the .py file")
        name = _module_name(path.name)
        return name, importlib.util.spec_from_file_location(name, init, submodule_search_locations=[str(path)]), \
            "package"
    if path.suffix == ".zip":
        top, _ = _zip_top_level(path)
        spec = zipimport.zipimporter(str(path)).find_spec(top)
        if spec is None:
            raise ConfigError(f"--algo_module {path}: cannot import {top!r} from the zip")
        return top, spec, "zip"
    if path.suffix != ".py":
        raise ConfigError(f"--algo_module {path} is neither a .py file, a package folder nor a .zip")
    name = _module_name(path.stem)
    return name, importlib.util.spec_from_file_location(name, path), "file"


def _last_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[-1]}" if text else type(exc).__name__


def _import_registering(name: str, load, where: str) -> tuple[ModuleType, list[str]]:
    """Run `load()` (which imports module `name`) and return it with the algorithm names it registered.

    Any exception is one ConfigError line; the registrations and modules of a failed import are rolled back.
    """
    configs_before, factories_before = set(REGISTERED_CONFIGS), set(REGISTERED_ALGO_FACTORY_FUNCS)
    modules_before = set(sys.modules)

    def roll_back() -> None:
        for key in set(REGISTERED_CONFIGS) - configs_before:
            del REGISTERED_CONFIGS[key]
        for key in set(REGISTERED_ALGO_FACTORY_FUNCS) - factories_before:
            del REGISTERED_ALGO_FACTORY_FUNCS[key]
        for key in set(sys.modules) - modules_before:  # the plugin and its submodules, not what it imported
            if key == name or key.startswith(name + "."):
                del sys.modules[key]

    try:
        module = load()
    except (Exception, SystemExit) as exc:  # the user's code: anything it raises is reported in one line
        roll_back()
        clash = "already registered" in str(exc)
        hint = "; fix: give the plugin's ALGO_NAME and factory a name no other algorithm uses" if clash else ""
        raise ConfigError(f"importing {where} failed: {_last_line(exc)}{hint}") from None
    configs = set(REGISTERED_CONFIGS) - configs_before
    factories = set(REGISTERED_ALGO_FACTORY_FUNCS) - factories_before
    if not configs and not factories:
        roll_back()
        raise ConfigError(f"{where} registers no algorithm; {_REGISTRATION_HINT}")
    if configs != factories:
        roll_back()
        missing = [f"a config class but no factory for {n!r}" for n in sorted(configs - factories)] + \
                  [f"a factory but no config class for {n!r}" for n in sorted(factories - configs)]
        raise ConfigError(f"{where} registers {' and '.join(missing)}; an algorithm needs both under the same "
                          f"name; {_REGISTRATION_HINT}")
    return module, sorted(configs)


def load_algo_module(source: "str | Path") -> dict:
    """Import a plugin (a .py file, package folder, .zip, or importable module name); returns its origin.

    Origin: {"module", "path", "sha256", "kind" ("file" | "package" | "zip" | "installed"), "algo_names"}.
    Importing the same path again returns the module already imported; a different file under a module name
    that is already taken is a ConfigError.
    """
    text = str(source)
    path = Path(text).expanduser()
    looks_like_path = path.exists() or "/" in text or "\\" in text or path.suffix in (".py", ".zip")
    if not looks_like_path:
        return _load_installed(text)
    if not path.exists():
        raise ConfigError(f"--algo_module {text} does not exist; fix: pass the path of the plugin's .py file, "
                          "package folder or .zip")
    path = path.resolve()
    name, spec, kind = _spec_for_path(path)
    existing = sys.modules.get(name)
    if existing is not None:
        origin = getattr(existing, ORIGIN_ATTR, None)
        if origin is not None and origin["path"] == str(path):
            return origin
        raise ConfigError(f"--algo_module {path}: a module named {name!r} is already imported from "
                          f"{getattr(existing, '__file__', None) or 'elsewhere'}; fix: rename the plugin")

    def load() -> ModuleType:
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module  # before running it, so the module can import its own submodules
        spec.loader.exec_module(module)
        return module

    module, algo_names = _import_registering(name, load, str(path))
    origin = {"module": name, "path": str(path), "sha256": code_sha256(path), "kind": kind, "algo_names": algo_names}
    setattr(module, ORIGIN_ATTR, origin)
    return origin


def _installed_origin(module: ModuleType, algo_names: list[str]) -> dict:
    file = getattr(module, "__file__", None)
    if file is None:
        return {"module": module.__name__, "path": None, "sha256": None, "kind": "installed", "algo_names": algo_names}
    path = Path(file).parent if Path(file).name == "__init__.py" else Path(file)
    return {"module": module.__name__, "path": str(path), "sha256": code_sha256(path) if path.exists() else None,
            "kind": "installed", "algo_names": algo_names}


def _load_installed(name: str) -> dict:
    existing = sys.modules.get(name)
    if existing is not None:
        origin = getattr(existing, ORIGIN_ATTR, None)
        if origin is None:
            names = sorted(n for n, f in REGISTERED_ALGO_FACTORY_FUNCS.items() if f.__module__.split(".")[0] == name
                           or f.__module__ == name)
            origin = _installed_origin(existing, names)
        return origin
    if importlib.util.find_spec(name.split(".")[0]) is None:
        raise ConfigError(f"--algo_module {name}: no such file, folder or installed module; fix: pass the path of "
                          "the plugin's .py file, package folder or .zip")
    module, algo_names = _import_registering(name, lambda: importlib.import_module(name), name)
    origin = _installed_origin(module, algo_names)
    setattr(module, ORIGIN_ATTR, origin)
    return origin


# ----------------------------------------------------------------- entry points


def entry_point_algos() -> dict[str, str]:
    """{algorithm name: module} declared by installed packages in the `robokit.algos` group (nothing is imported)."""
    return {ep.name: ep.value.split(":")[0] for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP)}


def load_entry_point_algo(algo_name: str) -> dict | None:
    """Import the installed module whose `robokit.algos` entry point is `algo_name`; None when there is none.

    Only call it when the user named `algo_name` (train.py --algo / a config's algo_name); a module that does not
    register `algo_name` is a ConfigError.
    """
    module = entry_point_algos().get(algo_name)
    if module is None:
        return None
    origin = load_algo_module(module)
    if algo_name not in REGISTERED_CONFIGS:
        raise ConfigError(f"entry point {ENTRY_POINT_GROUP}:{algo_name} names module {module!r}, which does not "
                          f"register {algo_name!r}; fix the package's entry point or its ALGO_NAME")
    return origin


def ensure_algo_registered(algo_name: str | None, algo_module: "str | Path | None" = None) -> dict | None:
    """Make `algo_name` available for training: import `algo_module` when given, else an installed package's
    entry point when the name is not built in. Returns the plugin's origin (None for a registered algorithm).
    `algo_name` None (not known yet): only import `algo_module`."""
    origin = load_algo_module(algo_module) if algo_module is not None else None
    if algo_name is None or algo_name in REGISTERED_CONFIGS and algo_name in REGISTERED_ALGO_FACTORY_FUNCS:
        return origin
    if origin is not None:
        raise ConfigError(f"--algo_module {algo_module} registers {', '.join(map(repr, origin['algo_names']))}, not "
                          f"{algo_name!r}; fix: use --algo {origin['algo_names'][0]} or the plugin that defines it")
    origin = load_entry_point_algo(algo_name)
    if origin is None and algo_name not in REGISTERED_CONFIGS:
        from robokit.config.registry import get_config_class

        try:
            get_config_class(algo_name)  # its message lists the registered names and the nearest one
        except ConfigError as exc:
            raise ConfigError(f"{exc}; for an algorithm of your own pass --algo_module FILE (a .py file, package "
                              "folder or .zip)") from None
    return origin


# ----------------------------------------------------------------- origins in checkpoints


def algo_origin(algo_name: str) -> dict | None:
    """Where `algo_name`'s factory comes from, for checkpoints: None for robokit's built-ins, else
    {"module", "path", "sha256", "kind"} of the plugin (or of the user's script that defined it)."""
    factory = REGISTERED_ALGO_FACTORY_FUNCS.get(algo_name)
    if factory is None:
        return None
    module_name = factory.__module__
    top = module_name.split(".")[0]
    if top == "robokit":
        return None
    module = sys.modules.get(top) or sys.modules.get(module_name)
    origin = getattr(module, ORIGIN_ATTR, None) if module is not None else None
    if origin is None:  # defined in a script or an imported module robokit did not load
        origin = _installed_origin(module, [algo_name]) if module is not None else \
            {"module": module_name, "path": None, "sha256": None, "kind": "installed"}
        if module_name == "__main__":
            origin["kind"] = "script"
    return {k: origin[k] for k in ("module", "path", "sha256", "kind")}


def check_checkpoint_algo(ckpt: dict, algo_module: "str | Path | None" = None, source: str = "the checkpoint",
                          warn=None) -> None:
    """Make the checkpoint's algorithm available without importing anything the caller did not name.

    A built-in, or a plugin already imported, loads; otherwise `algo_module` is imported (never the recorded
    path on its own). A plugin that is missing raises CheckpointError naming the recorded module and path. A plugin
    whose code changed since training (its sha256 differs) is a warning, not a refusal: `warn(message)` is called
    (default: one yellow `warning:` line on stderr), and the weights check that follows still refuses networks that no longer fit.
    """
    from robokit.errors import CheckpointError

    algo_name = ckpt.get("algo_name")
    recorded = ckpt.get("algo_origin")
    if algo_module is not None:
        try:
            load_algo_module(algo_module)
        except ConfigError as exc:
            raise CheckpointError(f"{source}: {exc}") from None
    if not (algo_name in REGISTERED_CONFIGS and algo_name in REGISTERED_ALGO_FACTORY_FUNCS):
        if algo_module is not None:
            raise CheckpointError(f"{source} needs algorithm {algo_name!r}, which {algo_module} does not register; "
                                  f"fix: pass the plugin that defines it{_recorded_hint(recorded)}")
        raise CheckpointError(f"{source} needs algorithm {algo_name!r}, which is not registered; loading a checkpoint "
                              f"never imports code: fix: pass algo_module=PATH (scripts: --algo_module PATH)"
                              f"{_recorded_hint(recorded)}")
    if not recorded or not recorded.get("sha256"):
        return
    current = algo_origin(algo_name)
    if current is not None and current.get("sha256") and current["sha256"] != recorded["sha256"]:
        message = (f"{source}: plugin {recorded.get('module')!r} changed since training (sha256 "
                   f"{recorded['sha256'][:12]} then, {current['sha256'][:12]} now at {current.get('path')}); "
                   "loading it anyway")
        if warn is None:
            from termcolor import colored

            print(colored(f"warning: {message}", "yellow"), file=sys.stderr)
        else:
            warn(message)


def _recorded_hint(recorded: dict | None) -> str:
    if not recorded:
        return ""
    where = recorded.get("path") or recorded.get("module")
    return f" (trained with module {recorded.get('module')!r} from {where})"


def algo_name_of_config_file(path: "str | Path") -> str | None:
    """The `algo_name` of a JSON config file, or None when it cannot be read (load_config then says why)."""
    import json

    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    name = data.get("algo_name") if isinstance(data, dict) else None
    return name if isinstance(name, str) else None
