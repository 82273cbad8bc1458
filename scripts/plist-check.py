#!/usr/bin/env python3
"""plist-check.py [--expect FILE.plist=EXPECTED.json]... [--self-test] PLIST...

Offline checks of launchd job plists written by duende, each of which must pass:

1. a strict parse with Python's plistlib (XML only: malformed XML, a dangling <key>, two values
   for one key, bad integers all fail);
2. the plist DTD (scripts/plist.dtd) with `xmllint --noout --nonet --dtdvalid`, after removing
   the DOCTYPE line (its URL cannot be fetched offline);
3. launchd.plist(5)'s types: Label (a non-empty string) and ProgramArguments (a non-empty array
   of strings, the first absolute) are required; every top-level key must be one launchd
   documents, with its documented type; KeepAlive is a boolean or a dictionary of its
   documented conditions; ProcessType is one of its four values; resource limits are known
   names with integer values; EnvironmentVariables holds strings; paths are absolute. Stricter
   than launchd, which only warns about unknown keys: duende writes none;
4. duende's own promises: StandardOutPath and StandardErrorPath are set (output never goes
   nowhere), RunAtLoad is true, and the file carries duende's marker in its prologue.

`--expect F=J` also reads plist F back against the JSON J that `cargo test` writes (values in ==
values out: ProgramArguments, EnvironmentVariables, WorkingDirectory, the set of top-level keys,
and the install manifest read from the prologue the way duende reads it).

`--self-test` first feeds the checks broken plists (each must fail) so that a checker that
accepts everything is caught. Exit status 0 when everything passes, 1 otherwise.
"""
import json
import os
import plistlib
import re
import shutil
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
DTD = os.path.join(HERE, "plist.dtd")

STR, BOOL, INT, DICT, LIST = str, bool, int, dict, list
# launchd.plist(5): every top-level key and the types it takes.
KEYS = {
    "Label": (STR,), "Disabled": (BOOL,), "UserName": (STR,), "GroupName": (STR,),
    "inetdCompatibility": (DICT,), "LimitLoadToHosts": (LIST,), "LimitLoadFromHosts": (LIST,),
    "LimitLoadToSessionType": (STR, LIST), "LimitLoadToHardware": (DICT,),
    "LimitLoadFromHardware": (DICT,), "Program": (STR,), "ProgramArguments": (LIST,),
    "EnableGlobbing": (BOOL,), "EnableTransactions": (BOOL,), "EnablePressuredExit": (BOOL,),
    "OnDemand": (BOOL,), "ServiceIPC": (BOOL,), "KeepAlive": (BOOL, DICT), "RunAtLoad": (BOOL,),
    "RootDirectory": (STR,), "WorkingDirectory": (STR,), "EnvironmentVariables": (DICT,),
    "Umask": (INT, STR), "TimeOut": (INT,), "ExitTimeOut": (INT,), "ThrottleInterval": (INT,),
    "InitGroups": (BOOL,), "WatchPaths": (LIST,), "QueueDirectories": (LIST,),
    "StartOnMount": (BOOL,), "StartInterval": (INT,), "StartCalendarInterval": (DICT, LIST),
    "StandardInPath": (STR,), "StandardOutPath": (STR,), "StandardErrorPath": (STR,),
    "Debug": (BOOL,), "WaitForDebugger": (BOOL,), "SoftResourceLimits": (DICT,),
    "HardResourceLimits": (DICT,), "Nice": (INT,), "ProcessType": (STR,),
    "AbandonProcessGroup": (BOOL,), "LowPriorityIO": (BOOL,), "LowPriorityBackgroundIO": (BOOL,),
    "MaterializeDatalessFiles": (BOOL,), "LaunchOnlyOnce": (BOOL,), "MachServices": (DICT,),
    "Sockets": (DICT,), "LaunchEvents": (DICT,), "SessionCreate": (BOOL,),
    "AssociatedBundleIdentifiers": (STR, LIST), "HopefullyExitsFirst": (BOOL,),
    "HopefullyExitsLast": (BOOL,),
}
KEEPALIVE = {"SuccessfulExit": BOOL, "NetworkState": BOOL, "PathState": DICT,
             "OtherJobEnabled": DICT, "Crashed": BOOL, "AfterInitialDemand": DICT}
PROCESS_TYPES = {"Background", "Standard", "Adaptive", "Interactive"}
LIMITS = {"Core", "CPU", "Data", "FileSize", "MemoryLock", "NumberOfFiles", "NumberOfProcesses",
          "ResidentSetSize", "Stack"}
PATHS = ("Program", "WorkingDirectory", "RootDirectory", "StandardInPath", "StandardOutPath",
         "StandardErrorPath")
MARKER = "<!-- Written by duende;"
MANIFEST_HEADER = "# Created by install, removed by uninstall:"


def is_type(value, kinds):
    # bool is a subclass of int in Python: True is not an integer here.
    return any(isinstance(value, k) and not (k is INT and isinstance(value, bool)) for k in kinds)


def launchd_types(d):
    errors = []
    if not isinstance(d, dict):
        return [f"the top level is {type(d).__name__}, not a dictionary"]
    for key, value in d.items():
        if key not in KEYS:
            errors.append(f"{key!r} is not a launchd.plist(5) key")
        elif not is_type(value, KEYS[key]):
            errors.append(f"{key}: expected {'/'.join(k.__name__ for k in KEYS[key])}, got {type(value).__name__}")
    if not isinstance(d.get("Label"), str) or not d.get("Label"):
        errors.append("Label (a non-empty string) is required")
    args = d.get("ProgramArguments")
    if not isinstance(args, list) or not args or not all(isinstance(a, str) for a in args):
        errors.append("ProgramArguments (a non-empty array of strings) is required")
    elif not args[0].startswith("/"):
        errors.append("ProgramArguments[0] is not absolute (launchd does not search PATH)")
    env = d.get("EnvironmentVariables", {})
    if isinstance(env, dict) and not all(isinstance(v, str) for v in env.values()):
        errors.append("EnvironmentVariables values must be strings")
    keep_alive = d.get("KeepAlive")
    if isinstance(keep_alive, dict):
        for key, value in keep_alive.items():
            if key not in KEEPALIVE:
                errors.append(f"KeepAlive: {key!r} is not a KeepAlive condition")
            elif not is_type(value, (KEEPALIVE[key],)):
                errors.append(f"KeepAlive.{key}: expected {KEEPALIVE[key].__name__}")
    if "ProcessType" in d and d["ProcessType"] not in PROCESS_TYPES:
        errors.append(f"ProcessType must be one of {sorted(PROCESS_TYPES)}")
    for table in ("SoftResourceLimits", "HardResourceLimits"):
        limits = d.get(table, {})
        for key, value in (limits.items() if isinstance(limits, dict) else []):
            if key not in LIMITS:
                errors.append(f"{table}: {key!r} is not a resource limit")
            elif not is_type(value, (INT,)) or value < 0:
                errors.append(f"{table}.{key}: expected a non-negative integer")
    for key in ("ThrottleInterval", "ExitTimeOut"):
        if is_type(d.get(key), (INT,)) and d[key] < 0:
            errors.append(f"{key} must not be negative")
    for key in PATHS:
        if isinstance(d.get(key), str) and not d[key].startswith("/"):
            errors.append(f"{key} is not an absolute path")
    return errors


def duende_promises(d, raw):
    errors = []
    for key in ("StandardOutPath", "StandardErrorPath"):
        if key not in d:
            errors.append(f"{key} is not set: the daemon's output would go nowhere")
    if d.get("RunAtLoad") is not True:
        errors.append("RunAtLoad is not true")
    prologue = raw.decode("utf-8", "replace").split("<plist", 1)[0]
    if not any(line.startswith(MARKER) for line in prologue.splitlines()):
        errors.append("duende's marker is missing from the prologue")
    return errors


def dtd_errors(raw):
    # The DOCTYPE names Apple's DTD by URL; xmllint would try to fetch it.
    body = re.sub(rb"<!DOCTYPE[^>]*>", b"", raw, count=1)
    run = subprocess.run(["xmllint", "--noout", "--nonet", "--dtdvalid", DTD, "-"], input=body,
                         capture_output=True)
    if run.returncode == 0:
        return []
    lines = [line for line in run.stderr.decode("utf-8", "replace").splitlines() if line.strip()]
    return ["DTD: " + " | ".join(lines[:4] or [f"xmllint exited {run.returncode}"])]


def manifest(raw):
    """The install manifest, read the way duende's Manifest::parse reads it."""
    lines = raw.decode("utf-8", "replace").splitlines()
    if MANIFEST_HEADER not in lines:
        return []
    recorded = []
    for line in lines[lines.index(MANIFEST_HEADER) + 1:]:
        for prefix in ("# file /", "# dir /"):
            if line.startswith(prefix):
                recorded.append(line[len(prefix) - 1:])
    return recorded


def check(raw):
    try:
        d = plistlib.loads(raw, fmt=plistlib.FMT_XML)
    except Exception as err:  # plistlib raises several kinds; each is a parse failure
        return [f"parse: {err}"], None
    return dtd_errors(raw) + launchd_types(d) + duende_promises(d, raw), d


def expectation_errors(d, raw, expected):
    errors = []
    for key in ("ProgramArguments", "EnvironmentVariables", "WorkingDirectory"):
        if d.get(key) != expected[key]:
            errors.append(f"{key} read back as {d.get(key)!r}, expected {expected[key]!r}")
    if sorted(d) != sorted(expected["keys"]):
        errors.append(f"top-level keys {sorted(d)}, expected {sorted(expected['keys'])}")
    if manifest(raw) != expected["manifest"]:
        errors.append(f"manifest {manifest(raw)}, expected {expected['manifest']}")
    return errors


GOOD = b"""<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">
<!-- Written by duende; test -->
<plist version="1.0">
<dict>
\t<key>Label</key>
\t<string>local.duende.demo</string>
\t<key>ProgramArguments</key>
\t<array>
\t\t<string>/usr/local/bin/demo</string>
\t</array>
\t<key>RunAtLoad</key>
\t<true/>
\t<key>StandardOutPath</key>
\t<string>/Library/Logs/demo.log</string>
\t<key>StandardErrorPath</key>
\t<string>/Library/Logs/demo.log</string>
</dict>
</plist>
"""

# Each must fail, and say the word given.
BROKEN = [
    ("malformed XML", GOOD.replace(b"</array>", b"</arry>"), "parse"),
    ("dangling key", GOOD.replace(b"\t<key>RunAtLoad</key>\n\t<true/>\n", b"\t<key>RunAtLoad</key>\n"), ""),
    ("Label as an integer", GOOD.replace(b"<string>local.duende.demo</string>", b"<integer>1</integer>"),
     "Label"),
    ("unknown key", GOOD.replace(b"</dict>", b"\t<key>Lable</key>\n\t<string>x</string>\n</dict>"), "Lable"),
    ("element inside a string", GOOD.replace(b"demo.log</string>", b"demo.log<key>X</key></string>", 1), ""),
    # plistlib skips elements it does not know; the DTD does not.
    ("unknown element", GOOD.replace(b"\t<true/>\n", b"\t<true/>\n\t<bogus/>\n"), "DTD"),
    ("wrong plist version", GOOD.replace(b'version="1.0">', b'version="2.0">'), "DTD"),
    ("no log path", GOOD.replace(b"\t<key>StandardErrorPath</key>\n\t<string>/Library/Logs/demo.log</string>\n",
                                 b""), "StandardErrorPath"),
    ("bad ProcessType", GOOD.replace(b"</dict>", b"\t<key>ProcessType</key>\n\t<string>Fast</string>\n</dict>"),
     "ProcessType"),
    ("bad KeepAlive condition", GOOD.replace(
        b"</dict>\n</plist>", b"\t<key>KeepAlive</key>\n\t<dict><key>Sucessful</key><false/></dict>\n</dict>\n</plist>"),
     "KeepAlive"),
    ("relative program", GOOD.replace(b"<string>/usr/local/bin/demo</string>", b"<string>demo</string>"),
     "absolute"),
    ("no marker", GOOD.replace(b"<!-- Written by duende; test -->\n", b""), "marker"),
]


def self_test():
    failures = []
    errors, _ = check(GOOD)
    if errors:
        failures.append(f"the good sample fails: {errors}")
    for what, raw, word in BROKEN:
        errors, _ = check(raw)
        if not errors or word not in " ".join(errors):
            failures.append(f"{what}: not refused as expected ({errors})")
    if failures:
        print("plist-check self-test failed:\n  " + "\n  ".join(failures))
        return False
    print(f"plist-check self-test: the good sample passes and all {len(BROKEN)} broken ones are refused")
    return True


def main(argv):
    expectations, files, bad = {}, [], 0
    args = iter(argv)
    for arg in args:
        if arg == "--expect":
            plist, _, expected = next(args, "").partition("=")
            expectations[plist] = expected
        elif arg == "--self-test":
            if not self_test():
                return 1
        else:
            files.append(arg)
    for path in files + [p for p in expectations if p not in files]:
        with open(path, "rb") as f:
            raw = f.read()
        errors, d = check(raw)
        if d is not None and path in expectations:
            with open(expectations[path], encoding="utf-8") as f:
                errors += expectation_errors(d, raw, json.load(f))
        for error in errors:
            print(f"{path}: {error}")
        if errors:
            bad += 1
        else:
            print(f"{path}: ok" + (" (hostile values read back exactly)" if path in expectations else ""))
    return 1 if bad else 0


if __name__ == "__main__":
    if shutil.which("xmllint") is None:
        sys.exit("plist-check: xmllint is missing (Debian: apt-get install libxml2-utils)")
    sys.exit(main(sys.argv[1:]))
