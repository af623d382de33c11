#!/usr/bin/env python3
"""Keeps the module map true (docs/architecture.md; the target graph of the shared design layout.md).
Fails, with the offending file and line, on:

  arrow           an #include of another module against the arrows below (an include is placed
                  by the file it resolves to, so "../gateway/x.hpp" counts as well as
                  "ringgate/gateway/x.hpp");
  private_lib     liburing outside net, wolfSSL outside tls;
  pubsub_gateway  pubsub including gateway: pub/sub knows subscriber tokens, never connections;
  worker_header   a route or transport file (src/gateway/routes/, src/gateway/transport/) that
                  reaches the worker header (worker.hpp, worker_port.hpp), directly or through
                  one of the repository's own headers;
  function_length a function body over 80 lines in src/, include/ or tools/ (C++ files). Tables
                  (namespace-scope brace initialisers such as `constexpr Option kOptions[] = {..}`)
                  are not functions; tests/ and bench/ are not scanned. Lambdas count toward the
                  function they are written in.

`check_layering.py [ROOT]` checks a tree (default: this repository); `--self-test` runs it on
tests/tidy/fixtures/, where each rule has one file that must trip it and nothing else may."""
import bisect
import pathlib
import re
import sys

# module -> modules it may include (itself always allowed). The target graph of layout.md.
ALLOWED = {
    "core": set(),
    "timer": {"core"},
    "http": {"core"},
    "ws": {"core"},
    "net": {"core", "timer"},
    "tls": {"core"},
    "pubsub": {"core", "timer", "ws", "net"},  # the exchange and broker links use net; never gateway, http, tls
    "gateway": {"core", "timer", "http", "ws", "net", "tls", "pubsub"},
    "app": {"core", "http", "gateway"},  # http for the admin endpoint
}
# Single headers a module may still include off its arrows, each with why (module -> headers). An
# exception is allowed one header at a time, so a new include from the same module still fails.
# None today: app reaches net::SockAddr through gateway/config.hpp and the unmask ISA through
# gateway::Server. The self-test still exercises the mechanism (SELF_TEST_ALLOWED_HEADERS).
ALLOWED_HEADERS = {}
PRIVATE_LIBS = {"liburing": "net", "wolfssl": "tls"}
WORKER_HEADERS = ("worker.hpp", "worker_port.hpp")
SEALED_DIRS = ("src/gateway/routes", "src/gateway/transport")  # talk through ConnIo / LinkIo only
FUNCTION_LINES_MAX = 80
LENGTH_ROOTS = ("src", "include", "tools")
CXX_SUFFIXES = (".hpp", ".cpp", ".h", ".cc")
INCLUDE = re.compile(r'^\s*#\s*include\s*([<"])([^>"]+)[>"]')


class Violation:
    def __init__(self, rule, path, line, message):
        self.rule, self.path, self.line, self.message = rule, path, line, message

    def __str__(self):
        return f"{self.path}:{self.line}: {self.message}"


def read(path):
    return path.read_text(encoding="utf-8", errors="replace")


def module_of(root, path):
    """The module a repository file belongs to (src/<m>/... or include/ringgate/<m>/...), or None."""
    try:
        parts = path.resolve().relative_to(root.resolve()).parts
    except ValueError:
        return None
    if len(parts) > 2 and parts[0] == "src" and parts[1] in ALLOWED:
        return parts[1]
    if len(parts) > 3 and parts[:2] == ("include", "ringgate") and parts[2] in ALLOWED:
        return parts[2]
    return None


def resolve(root, including, target):
    """The repository file a quoted include names (beside the includer, then include/, then src/)."""
    for base in (including.parent, root / "include", root / "src"):
        candidate = base / target
        if candidate.is_file():
            return candidate.resolve()
    return None


def includes_of(path):
    """(line, delimiter, target) for each #include of a file."""
    out = []
    for lineno, line in enumerate(read(path).splitlines(), 1):
        m = INCLUDE.match(line)
        if m:
            out.append((lineno, m.group(1), m.group(2)))
    return out


def reaches_worker(root, path, seen):
    """The chain of repository headers by which `path` includes a worker header, or None."""
    for _, delim, target in includes_of(path):
        if delim != '"':
            continue
        if target.rsplit("/", 1)[-1] in WORKER_HEADERS:
            return [target]
        header = resolve(root, path, target)
        if header is None or header in seen:
            continue
        seen.add(header)
        chain = reaches_worker(root, header, seen)
        if chain:
            return [target] + chain
    return None


def check_includes(root, path, module, errors, allowed_headers):
    rel = path.relative_to(root).as_posix()
    sealed = any(rel.startswith(d + "/") for d in SEALED_DIRS)
    for lineno, delim, target in includes_of(path):
        parts = target.split("/")
        dep = None
        if delim == '"':
            header = resolve(root, path, target)
            dep = module_of(root, header) if header else None
        if dep is None and parts[0] == "ringgate" and len(parts) > 2:
            dep = parts[1]
        if dep == "gateway" and module == "pubsub":
            errors.append(Violation("pubsub_gateway", rel, lineno,
                                    f"pubsub must not include {target}: pub/sub knows subscriber tokens, "
                                    "never connections (gateway calls pubsub, not the other way)"))
        elif dep and dep != module and dep not in ALLOWED[module] \
                and target not in allowed_headers.get(module, ()):
            errors.append(Violation("arrow", rel, lineno, f"{module} must not include {target}"))
        for lib, owner in PRIVATE_LIBS.items():
            if parts[0].startswith(lib) and module != owner:
                errors.append(Violation("private_lib", rel, lineno, f"only {owner} may include {target}"))
        if sealed:
            chain = None
            if parts[-1] in WORKER_HEADERS:
                chain = [target]
            elif delim == '"':
                header = resolve(root, path, target)
                if header is not None:
                    sub = reaches_worker(root, header, {header})
                    chain = [target] + sub if sub else None
            if chain:
                errors.append(Violation("worker_header", rel, lineno,
                                        f"includes the worker header ({' -> '.join(chain)}): routes and "
                                        "transports talk to their connection through ConnIo/LinkIo"))


# ---- function length: a brace scanner over C++ with comments, literals and directives blanked ----

IDENT = re.compile(r"[A-Za-z0-9_]")
RAW_PREFIXES = ("R", "u8R", "uR", "UR", "LR")
SPECIAL = re.compile(r"//|/\*|[\"'#]")  # where a comment, literal or directive may start
BLANKABLE = re.compile(r"[^\n]")


def strip_cxx(text):
    """`text` with comments, the insides of string/char literals (raw strings too) and preprocessor
    directives replaced by spaces. Newlines and every other offset are kept, so lines still count."""
    out = []  # pieces of the result, in order
    n = len(text)
    done = 0  # text[:done] is in out

    def blank(a, b):  # copy text[done:a], then text[a:b] as spaces (newlines kept)
        nonlocal done
        b = min(b, n)
        out.append(text[done:a])
        out.append(BLANKABLE.sub(" ", text[a:b]))
        done = b

    i = 0
    while True:
        m = SPECIAL.search(text, i)
        if not m:
            break
        i, tok = m.start(), m.group()
        if tok == "#":
            if text[text.rfind("\n", 0, i) + 1:i].strip():
                i += 1  # not the first thing on its line: not a directive (cannot happen in C++)
                continue
            j = i
            while True:
                j = text.find("\n", j)
                if j < 0 or text[j - 1] != "\\":
                    break
                j += 1
            j = n if j < 0 else j
            blank(i, j)
            i = j
        elif tok == "//":
            j = text.find("\n", i)
            j = n if j < 0 else j
            blank(i, j)
            i = j
        elif tok == "/*":
            j = text.find("*/", i + 2)
            j = n if j < 0 else j + 2
            blank(i, j)
            i = j
        elif tok == '"':
            k = i
            while k > 0 and IDENT.match(text[k - 1]):
                k -= 1
            if text[k:i] in RAW_PREFIXES:
                paren = text.find("(", i + 1)
                delim = text[i + 1:paren] if paren >= 0 else ""
                end = text.find(")" + delim + '"', paren + 1) if paren >= 0 else -1
                end = n if end < 0 else end + len(delim) + 1  # the closing quote
                blank(i + 1, end)
                i = end + 1
            else:
                j = i + 1
                while j < n and text[j] != '"' and text[j] != "\n":
                    j += 2 if text[j] == "\\" else 1
                blank(i + 1, j)
                i = j + 1
        else:  # "'"
            k = i
            while k > 0 and (IDENT.match(text[k - 1]) or text[k - 1] in "'."):
                k -= 1
            if k < i and text[k].isdigit():  # a digit separator: 1'000'000
                i += 1
                continue
            j = i + 1
            while j < n and text[j] != "'" and text[j] != "\n":
                j += 2 if text[j] == "\\" else 1
            blank(i + 1, j)
            i = j + 1
    out.append(text[done:])
    return "".join(out)


def collapse(head):
    """A declaration head with the insides of (), [] and {} removed and spaces squeezed:
    `Foo::Foo(int a) : a_{a}, b_(f(a))` -> `Foo::Foo() : a_{}, b_()`."""
    out = []
    depth = 0
    for c in head:
        if c in "([{":
            if depth == 0:
                out.append(c)
            depth += 1
        elif c in ")]}":
            depth = max(depth - 1, 0)
            if depth == 0:
                out.append(c)
        elif depth == 0:
            out.append(c)
    return re.sub(r"\s+", " ", "".join(out)).strip()


def drop_templates(head):
    """`template <class T, int N = 3> void f()` -> ` void f()` (angle brackets balanced)."""
    while True:
        m = re.search(r"\btemplate\s*<", head)
        if not m:
            return head
        depth, j = 0, m.end() - 1
        while j < len(head):
            depth += {"<": 1, ">": -1}.get(head[j], 0)
            j += 1
            if depth == 0:
                break
        head = head[:m.start()] + " " + head[j:]


QUAL = r"(?:\s*(?:const|volatile|noexcept(?:\s*\(\))?|override|final|mutable|constexpr|&&|&|try))*"
TRAIL = r"(?:\s*->\s*[^;{}=]+?)?"
INIT = r"[\w:]+(?:\s*<[^;{}]*?>)?\s*(?:\(\)|\{\})(?:\s*\.\.\.)?"
NAME = (r"(?P<name>(?:[\w~]+(?:\s*<[^;(){}]*>)?\s*::\s*)*"
        r"(?:operator\s*(?:\(\)|\[\]|new|delete|[^\s\w()]+|[\w:]+(?:\s*[*&]+)?)|~?\w+))")
FUNCTION = re.compile(rf"{NAME}\s*(?:<[^;(){{}}]*>)?\s*\(\){QUAL}{TRAIL}(?:\s*:\s*{INIT}(?:\s*,\s*{INIT})*)?\s*$")
LAMBDA = re.compile(rf"(?P<name>\w+)\s*=\s*\[\]\s*(?:\(\))?{QUAL}{TRAIL}\s*$")
CLASS = re.compile(r"(?:^|[\s;:])(?:enum\s+(?:class|struct)|class|struct|union|enum)\b"
                   r"(?:\s*(?:\[\]|alignas\(\)))*\s*(?P<name>\w+)?")
NOT_NAMES = {"if", "for", "while", "switch", "catch", "return", "sizeof", "decltype", "alignas",
             "static_assert", "requires", "noexcept"}


def classify(head):
    """What a `{` at namespace or class scope opens: ("function", name), ("class", name),
    ("namespace", None) or ("other", None) (an initialiser: a table, a member's {}, ...)."""
    if head.count("(") != head.count(")"):
        return "other", None  # inside an expression: a call's argument
    flat = collapse(drop_templates(head))
    m = FUNCTION.search(flat)
    if m and m.group("name").rsplit("::", 1)[-1] not in NOT_NAMES:
        return "function", re.sub(r"\s+", "", m.group("name"))
    m = CLASS.search(flat)
    if m:
        return "class", m.group("name")
    if re.search(r"\bnamespace\b|\bextern\s*\"", flat):
        return "namespace", None
    m = LAMBDA.search(flat)
    if m:
        return "function", m.group("name")
    return "other", None


NEWLINE = re.compile(r"\n")
STRUCTURE = re.compile(r"[;{}]")


def functions(text):
    """(name, first line, lines) for each function body in a C++ source, lambdas folded in."""
    code = strip_cxx(text)
    newlines = [m.start() for m in NEWLINE.finditer(code)]
    line_of = lambda pos: bisect.bisect_left(newlines, pos) + 1  # noqa: E731
    stack = []  # (kind, name, open offset)
    head_start = 0  # where the declaration before the next '{' begins, at namespace/class scope
    found = []
    for m in STRUCTURE.finditer(code):
        pos, c = m.start(), m.group()
        if c == ";":
            if all(k in ("namespace", "class") for k, _, _ in stack):
                head_start = pos + 1
        elif c == "{":
            if all(k in ("namespace", "class") for k, _, _ in stack):
                kind, name = classify(code[head_start:pos])
                if kind == "function":
                    outer = [n for k, n, _ in stack if k == "class" and n]
                    if outer and "::" not in name:
                        name = "::".join(outer + [name])
                stack.append((kind, name, pos))
                if kind in ("namespace", "class"):
                    head_start = pos + 1
            else:
                stack.append(("inner", None, pos))
        elif c == "}" and stack:
            kind, name, start = stack.pop()
            if kind == "function":
                first = line_of(start)
                found.append((name, first, line_of(pos) - first + 1))
            if kind in ("function", "class", "namespace"):  # an initialiser's {} stays in the head
                head_start = pos + 1
    return found


def check_lengths(root, path, errors):
    rel = path.relative_to(root).as_posix()
    for name, line, lines in functions(read(path)):
        if lines > FUNCTION_LINES_MAX:
            errors.append(Violation("function_length", rel, line,
                                    f"{name}: {lines} lines (at most {FUNCTION_LINES_MAX} per function)"))


def cxx_files(base):
    if not base.is_dir():
        return []
    return sorted(p for p in base.rglob("*") if p.suffix in CXX_SUFFIXES and p.is_file())


def collect(root, allowed_headers=ALLOWED_HEADERS):
    root = pathlib.Path(root).resolve()
    errors = []
    checked = set()
    for module in ALLOWED:
        for base in (root / "src" / module, root / "include" / "ringgate" / module):
            for path in cxx_files(base):
                checked.add(path)
                check_includes(root, path, module, errors, allowed_headers)
    for top in LENGTH_ROOTS:
        for path in cxx_files(root / top):
            checked.add(path)
            check_lengths(root, path, errors)
    return len(checked), errors


def main(root):
    checked, errors = collect(root)
    for e in errors:
        print(e)
    print(f"layering: {checked} files checked, {len(errors)} violations")
    return 1 if errors else 0


# Each rule, the one fixture file that must trip it, and a piece of the message it must print.
SELF_TEST = {
    "arrow": ("src/ws/bad_arrow.cpp", "ws must not include ringgate/net/ring.hpp"),
    "private_lib": ("src/http/bad_private_lib.cpp", "only net may include liburing.h"),
    "pubsub_gateway": ("src/pubsub/bad_gateway.cpp", "pubsub must not include ringgate/gateway/hub.hpp"),
    "worker_header": ("src/gateway/routes/bad_route.cpp", "through ConnIo/LinkIo"),
    "function_length": ("tools/load/bad_long.cpp", "run_everything: 81 lines"),
}
# Second cases: the worker header reached through a private header, not named directly; an app
# include of net other than the one header the fixtures allow app (SELF_TEST_ALLOWED_HEADERS).
SELF_TEST_ALLOWED_HEADERS = {"app": {"ringgate/net/listener.hpp"}}
SELF_TEST_EXTRA = [("worker_header", "src/gateway/transport/bad_transport.hpp",
                    "../leaky.hpp -> ringgate/gateway/worker.hpp"),
                   ("arrow", "src/app/bad_app.cpp", "app must not include ringgate/net/ring.hpp")]


# Every function the scanner must find in the clean scanner fixture, with its length: a literal,
# comment or directive that is not blanked properly shifts a count or loses a function.
SELF_TEST_FUNCTIONS = {
    "src/gateway/routes/good_route.cpp": [("Echo::Echo", 3), ("Echo::operator()", 1), ("Echo::pair", 1),
                                          ("exactly_eighty", 80), ("c_entry", 1)],
    "tools/load/bad_long.cpp": [("run_everything", 81)],
}


def self_test():
    fixtures = pathlib.Path(__file__).resolve().parent / "fixtures"
    checked, errors = collect(fixtures, SELF_TEST_ALLOWED_HEADERS)
    expected = [(rule, path, text) for rule, (path, text) in SELF_TEST.items()] + SELF_TEST_EXTRA
    failures = []
    for rule, path, text in expected:
        hits = [e for e in errors if e.rule == rule and e.path == path]
        if len(hits) != 1 or text not in hits[0].message:
            failures.append(f"{rule}: expected one violation in {path} containing {text!r}, got "
                            f"{[str(e) for e in hits]}")
    wanted = {(rule, path) for rule, path, _ in expected}
    for e in errors:
        if (e.rule, e.path) not in wanted:
            failures.append(f"unexpected [{e.rule}] {e}")
    for path, want in SELF_TEST_FUNCTIONS.items():
        got = [(name, lines) for name, _, lines in functions(read(fixtures / path))]
        if got != want:
            failures.append(f"functions in {path}: expected {want}, got {got}")
    for f in failures:
        print("self-test:", f)
    print(f"layering self-test: {checked} fixture files, {len(errors)} violations, {len(failures)} failures")
    return 1 if failures or checked < 8 else 0


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--self-test":
        sys.exit(self_test())
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else pathlib.Path(__file__).resolve().parents[2]))
