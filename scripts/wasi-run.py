#!/usr/bin/env python3
"""wasi-run.py - runs a wasm32-wasip1 command module (a duende daemon built for WOS) under the
real wasmtime engine, through the PyPI `wasmtime` wheel: what the test suite (tests/tests/wasi.rs)
uses where WOS itself is absent.

usage: wasi-run.py [--dir HOST::GUEST]... [--env KEY=VALUE]... [--cache DIR] MODULE.wasm [ARGS...]

- `--dir` preopens the host directory HOST at GUEST inside the module (GUEST defaults to HOST).
- `--env` sets one variable of the module's environment; nothing else is passed through.
- `--cache DIR` keeps compiled code in wasmtime's on-disk cache in DIR, so the next start of the
  same module skips compilation (seconds for a debug build).
- Standard input, output and error are the module's: a host drives a duende daemon by writing
  control-protocol lines to its standard input (`{"v":1,"op":"stop"}`), and reads the replies and
  notices on its standard output (each line after an RS byte, 0x1E).
- The exit status is the module's `proc_exit` code (0 when `_start` returns); 125 when the
  module traps (a panic, `unreachable`), with the trap on standard error.

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


def main(argv):
    dirs, env, cache, module_path, args = parse(list(argv))
    config = wasmtime.Config()
    if cache is not None:
        os.makedirs(cache, exist_ok=True)
        settings = os.path.join(cache, "wasmtime-cache.toml")
        with open(settings, "w", encoding="utf-8") as file:
            file.write(f"[cache]\ndirectory = {json.dumps(os.path.abspath(cache))}\n")
        config.cache = settings
    engine = wasmtime.Engine(config)
    store = wasmtime.Store(engine)
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
