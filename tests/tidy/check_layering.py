#!/usr/bin/env python3
"""Keeps the module map true: every #include of "ringgate/<module>/..." in a module's sources and
headers must follow the arrows of docs/architecture.md, and only net may include liburing
(only tls, later, wolfSSL). Fails with the offending file and line."""
import pathlib
import re
import sys

# module -> modules it may include (itself always allowed)
ALLOWED = {
    "core": set(),
    "timer": {"core"},
    "http": {"core"},
    "ws": {"core"},
    "net": {"core", "timer"},
    "tls": {"core"},
    "pubsub": {"core", "timer", "ws", "net"},  # the exchange and broker links use net; never gateway, http, tls
    "gateway": {"core", "timer", "http", "ws", "net", "tls", "pubsub"},
    "app": {"core", "timer", "http", "ws", "net", "tls", "pubsub", "gateway"},
}
PRIVATE_LIBS = {"liburing": "net", "wolfssl": "tls"}
INCLUDE = re.compile(r'^\s*#\s*include\s*[<"]([^>"]+)[>"]')


def main(root):
    root = pathlib.Path(root)
    errors = []
    checked = 0
    for module in ALLOWED:
        for base in (root / "src" / module, root / "include" / "ringgate" / module):
            if not base.is_dir():
                continue
            for path in sorted(base.rglob("*")):
                if path.suffix not in (".hpp", ".cpp", ".h"):
                    continue
                checked += 1
                for lineno, line in enumerate(path.read_text().splitlines(), 1):
                    m = INCLUDE.match(line)
                    if not m:
                        continue
                    target = m.group(1)
                    parts = target.split("/")
                    if parts[0] == "ringgate" and len(parts) > 2:
                        dep = parts[1]
                        if dep != module and dep not in ALLOWED[module]:
                            errors.append(f"{path.relative_to(root)}:{lineno}: {module} must not include {target}")
                    for lib, owner in PRIVATE_LIBS.items():
                        if parts[0].startswith(lib) and module != owner:
                            errors.append(f"{path.relative_to(root)}:{lineno}: only {owner} may include {target}")
    for e in errors:
        print(e)
    print(f"layering: {checked} files checked, {len(errors)} violations")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else pathlib.Path(__file__).resolve().parents[2]))
