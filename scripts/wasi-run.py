#!/usr/bin/env python3
"""wasi-run.py - runs a wasm32-wasip1 command module (a duende daemon built for WOS) under the
real wasmtime engine, through the PyPI `wasmtime` wheel: what the test suite (tests/tests/wasi.rs)
uses where WOS itself is absent.

usage: wasi-run.py [--dir HOST::GUEST]... [--env KEY=VALUE]... [--cache DIR] MODULE.wasm [ARGS...]
       wasi-run.py run [OPTIONS] MODULE.wasm [ARGS...]    (the `wasmtime run` subset below)

- `--dir` preopens the host directory HOST at GUEST inside the module (GUEST defaults to HOST).
- `--env` sets one variable of the module's environment; nothing else is passed through.
- `--cache DIR` keeps compiled code in wasmtime's on-disk cache in DIR, so the next start of the
  same module skips compilation (seconds for a debug build).
- Standard input, output and error are the module's: a host drives a duende daemon by writing
  control-protocol lines to its standard input (`{"v":1,"op":"stop"}`), and reads the replies and
  notices on its standard output (each line after an RS byte, 0x1E).
- The exit status is the module's `proc_exit` code (0 when `_start` returns); 125 when the
  module traps (a panic, `unreachable`), with the trap on standard error.

The `run` form takes the subset of the wasmtime CLI's `wasmtime run` (wasmtime 48) that duende's
WOS runner (`NAME __wos-run`) uses, so a `wasmtime` shim that execs this script can stand in for
the CLI where only the wheel is installed (the test suite does this; the engine is the real one,
only the command-line front is this script's):

- `--dir HOST[::GUEST]`, `--env NAME=VALUE` as above;
- `-W max-memory-size=BYTES`: the most the module's linear memory may grow to;
- `-C cache=y|n`: compiled code cached in `$XDG_CACHE_HOME/wasmtime-py` (`~/.cache/wasmtime-py`),
  on by default as in the CLI; `-C cache-config=FILE` names a wasmtime cache configuration;
- `-S tcplisten=ADDR` is refused: the wheel cannot hand a module a preopened socket;
- anything else is refused by name; everything after the module is the module's.

install: python3 -m venv VENV && VENV/bin/pip install wasmtime
"""
import json
import os
import sys

try:
    import wasmtime
except ImportError:
    sys.exit("wasi-run.py: the `wasmtime` Python package is missing; install it with `pip install wasmtime`")

TRAP_STATUS = 125


def parse(argv):
    dirs, env, cache = [], [], None
    while argv and argv[0].startswith("--"):
        option = argv.pop(0)
        if not argv:
            sys.exit(f"wasi-run.py: {option} needs a value\n\n{__doc__}")
        value = argv.pop(0)
        if option == "--dir":
            host, _, guest = value.partition("::")
            dirs.append((host, guest or host))
        elif option == "--env":
            key, sep, val = value.partition("=")
            if not sep:
                sys.exit(f"wasi-run.py: --env takes KEY=VALUE, not {value!r}")
            env.append((key, val))
        elif option == "--cache":
            cache = value
        else:
            sys.exit(f"wasi-run.py: unknown option {option}\n\n{__doc__}")
    if not argv:
        sys.exit(__doc__)
    return dirs, env, cache, argv[0], argv


def parse_run(argv):
    """`wasmtime run` syntax: (dirs, env, cache, cache_config, max_memory, module, args)."""
    dirs, env, max_memory = [], [], None
    cache, cache_config = default_cache(), None
    while argv and argv[0].startswith("-"):
        option = argv.pop(0)
        if "=" in option and option.startswith("--"):
            option, value = option.split("=", 1)
        else:
            if not argv:
                sys.exit(f"wasi-run.py: {option} needs a value\n\n{__doc__}")
            value = argv.pop(0)
        if option == "--dir":
            host, _, guest = value.partition("::")
            dirs.append((host, guest or host))
        elif option == "--env":
            key, sep, val = value.partition("=")
            if not sep:
                val = os.environ.get(key, "")
            env.append((key, val))
        elif option == "-W":
            key, _, val = value.partition("=")
            if key != "max-memory-size" or not val.isdigit():
                sys.exit(f"wasi-run.py run: `-W {value}` is not supported; only `-W max-memory-size=BYTES`")
            max_memory = int(val)
        elif option == "-C":
            key, _, val = value.partition("=")
            if key == "cache" and val in ("", "y", "yes", "true"):
                cache = cache or default_cache()
            elif key == "cache" and val in ("n", "no", "false"):
                cache = None
            elif key == "cache-config" and val:
                cache_config = val
            else:
                sys.exit(f"wasi-run.py run: `-C {value}` is not supported; only `-C cache=y|n` and `-C cache-config=FILE`")
        elif option == "-S" and value.startswith("tcplisten="):
            sys.exit(f"wasi-run.py run: `-S {value}`: the wasmtime wheel cannot preopen a listening socket for a module; "
                     "use the wasmtime CLI for `net:listen` capabilities")
        else:
            sys.exit(f"wasi-run.py run: `{option}` is not supported by this front (see --help of wasi-run.py)")
    if not argv:
        sys.exit(__doc__)
    return dirs, env, cache, cache_config, max_memory, argv[0], argv


def default_cache():
    base = os.environ.get("XDG_CACHE_HOME") or (os.path.join(os.environ["HOME"], ".cache") if os.environ.get("HOME") else None)
    return os.path.join(base, "wasmtime-py") if base else None


def main(argv):
    argv = list(argv)
    max_memory, cache_config = None, None
    if argv and argv[0] == "run":
        dirs, env, cache, cache_config, max_memory, module_path, args = parse_run(argv[1:])
    else:
        dirs, env, cache, module_path, args = parse(argv)
    config = wasmtime.Config()
    if cache_config is not None:
        config.cache = cache_config
    elif cache is not None:
        os.makedirs(cache, exist_ok=True)
        settings = os.path.join(cache, "wasmtime-cache.toml")
        # Written under a name of this process's own, then renamed over: runs started at once
        # share the file, and one must never read another's half-written (empty) copy.
        partial = f"{settings}.{os.getpid()}"
        with open(partial, "w", encoding="utf-8") as file:
            file.write(f"[cache]\ndirectory = {json.dumps(os.path.abspath(cache))}\n")
        os.replace(partial, settings)
        config.cache = settings
    engine = wasmtime.Engine(config)
    store = wasmtime.Store(engine)
    if max_memory is not None:
        store.set_limits(memory_size=max_memory)
    wasi = wasmtime.WasiConfig()
    wasi.argv = args
    wasi.env = env
    wasi.inherit_stdin()
    wasi.inherit_stdout()
    wasi.inherit_stderr()
    for host, guest in dirs:
        wasi.preopen_dir(host, guest)
    store.set_wasi(wasi)
    linker = wasmtime.Linker(engine)
    linker.define_wasi()
    module = wasmtime.Module.from_file(engine, module_path)
    instance = linker.instantiate(store, module)
    try:
        instance.exports(store)["_start"](store)
    except wasmtime.ExitTrap as exit_trap:
        return exit_trap.code
    except wasmtime.Trap as trap:
        print(f"wasi-run.py: the module trapped: {trap}", file=sys.stderr)
        return TRAP_STATUS
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
