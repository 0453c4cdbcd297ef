"""JSONLogic's value semantics, for folding operations whose arguments are all known.

JSONLogic follows JavaScript: loose equality and comparison coerce (`"1" == 1`), `+` casts strings to
numbers, `cat` prints numbers and lists the JavaScript way, and truthiness has its own table (`[]` and
`""` are false, `"0"` is true). flagd's evaluators implement this in Go, Java, JavaScript and Python and
do not agree on every corner; where they may disagree (lists compared by reference or by value, `%` of a
negative number, division by zero, NaN and infinities, `in` mixing booleans and numbers) an operation is
*not folded*: `NotFoldable` leaves it in the rule, for the target's own evaluator to decide, exactly as the
source's would have. Folding is an optimisation; declining is always safe.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from typing import Any


class NotFoldable(Exception):
    """This operation on these values is left to the evaluator at run time."""


def truthy(value: Any) -> bool:
    """JSONLogic truthiness: null, false, 0, NaN, "" and [] are false; everything else (objects too) true."""
    if value is None:
        return False
    if isinstance(value, bool):
        return value
    if isinstance(value, float):
        return not math.isnan(value) and value != 0.0
    if isinstance(value, (int, str, list)):
        return bool(value)
    return True


def _number(value: Any) -> float | int:
    """JavaScript's Number(value), as JSONLogic casts operands of arithmetic and comparisons."""
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, (int, float)):
        return value
    if value is None:
        return 0
    if isinstance(value, list):
        return 0 if not value else (_number(value[0]) if len(value) == 1 else math.nan)
    if isinstance(value, str):
        if _DECIMAL.match(value):
            return float(value)
        if not value.strip() or _NUMBER_LIKE.search(value):
            raise NotFoldable  # "", "0x1f", "1_000", "Infinity": evaluators read these differently
        return math.nan
    return math.nan


# Strings every evaluator reads as the same number; other strings with digits may be read differently.
_DECIMAL = re.compile(r"^\s*[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?\s*$")
_NUMBER_LIKE = re.compile(r"\d|inf|nan", re.IGNORECASE)


def text(value: Any) -> str:
    """JavaScript's String(value) for JSON values."""
    if isinstance(value, str):
        return value
    if value is None:
        return "null"
    if isinstance(value, bool):
        raise NotFoldable  # "true" in JavaScript, "True" in flagd's Python evaluator
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        printed = f"{value:.15g}"  # flagd's Python evaluator; JavaScript prints the shortest exact form
        if not math.isfinite(value) or float(printed) != value or "e" in printed:
            raise NotFoldable  # the two differ (0.1 + 0.2, 1e16): leave it to the evaluator
        return printed
    if isinstance(value, list):
        if any(item is None for item in value):
            raise NotFoldable  # JavaScript prints null in a list as "", Python's evaluator as "null"
        return ",".join(text(item) for item in value)
    return "[object Object]"


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float))


def _loose_equal(a: Any, b: Any) -> bool:
    if isinstance(a, (list, dict)) or isinstance(b, (list, dict)):
        raise NotFoldable  # reference equality in JavaScript, value equality in some evaluators
    if type(a) is type(b):
        return bool(a == b)
    if (a is None or b is None) and (_is_number(a) or _is_number(b)):
        raise NotFoldable  # `null == 0` is false in JavaScript, true in flagd's Python evaluator
    if a is None or b is None:
        return False
    if _is_number(a) or _is_number(b):  # booleans and strings compare as numbers
        return _number(a) == _number(b)
    raise NotFoldable


def _strict_equal(a: Any, b: Any) -> bool:
    if isinstance(a, (list, dict)) or isinstance(b, (list, dict)):
        raise NotFoldable
    if isinstance(a, bool) != isinstance(b, bool) and _is_number(a) and _is_number(b):
        raise NotFoldable  # `true === 1` is false in JavaScript, true in Python's evaluator
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    if _is_number(a) and _is_number(b):
        return bool(a == b)
    return type(a) is type(b) and a == b


def _compare(a: Any, b: Any, test: Callable[[Any, Any], bool]) -> bool:
    if isinstance(a, (list, dict)) or isinstance(b, (list, dict)):
        raise NotFoldable  # compared by their printed form in some evaluators, by Number() in others
    if _is_number(a) or _is_number(b) or not (isinstance(a, str) or isinstance(b, str)):
        x, y = _number(a), _number(b)
        return False if math.isnan(x) or math.isnan(y) else test(x, y)
    return test(text(a), text(b))  # a string against a string, or against null printed as "null"


def _comparison(test: Callable[[Any, Any], bool]) -> Callable[..., bool]:
    def operation(a: Any = None, b: Any = None, c: Any = None, *_: Any) -> bool:
        if c is None:
            return _compare(a, b, test)
        return _compare(a, b, test) and _compare(b, c, test)

    return operation


def _finite(value: float | int) -> float | int:
    if isinstance(value, float) and not math.isfinite(value):
        raise NotFoldable
    return value


def _add(*args: Any) -> float | int:
    return _finite(sum((_number(arg) for arg in args), 0))


def _multiply(*args: Any) -> float | int:
    if not args:
        raise NotFoldable
    result: float | int = 1
    for arg in args:
        result *= _number(arg)
    return _finite(result)


def _subtract(a: Any = None, b: Any = None, *_: Any) -> float | int:
    return _finite(-_number(a) if b is None else _number(a) - _number(b))


def _divide(a: Any = None, b: Any = None, *_: Any) -> float | int:
    x, y = _number(a), _number(b)
    if y == 0 or math.isnan(y):
        raise NotFoldable  # an error in some evaluators, Infinity or NaN in others
    return _finite(x / y)


def _modulo(a: Any = None, b: Any = None, *_: Any) -> float | int:
    x, y = _number(a), _number(b)
    if y == 0 or math.isnan(x) or math.isnan(y) or x < 0 or y < 0:
        raise NotFoldable  # JavaScript keeps the dividend's sign, Python the divisor's
    return _finite(x % y)


def _extreme(pick: Callable[..., Any]) -> Callable[..., float | int]:
    def operation(*args: Any) -> float | int:
        if not args:
            raise NotFoldable
        if any(isinstance(arg, (bool, list)) for arg in args):
            raise NotFoldable  # some evaluators return the boolean itself, not its number
        numbers = [_number(arg) for arg in args]
        if any(math.isnan(number) for number in numbers):
            raise NotFoldable
        return _finite(pick(numbers))

    return operation


def _member(needle: Any = None, haystack: Any = None, *_: Any) -> bool:
    if isinstance(haystack, str):
        return text(needle) in haystack
    if isinstance(haystack, list):
        if isinstance(needle, (list, dict)) or any(isinstance(item, (list, dict)) for item in haystack):
            raise NotFoldable
        loose = needle in haystack
        if loose != any(_strict_equal(needle, item) for item in haystack):
            raise NotFoldable  # Python's `True == 1` against JavaScript's includes()
        return loose
    return False


def _concatenate(*args: Any) -> str:
    return "".join(text(arg) for arg in args)


def _substring(string: Any = None, start: Any = None, length: Any = None, *_: Any) -> str:
    value = text(string)
    size = len(value)
    begin = _number(start)
    if math.isnan(begin):
        begin = 0
    elif not math.isfinite(begin):
        raise NotFoldable
    begin = int(begin)
    begin = max(size + begin, 0) if begin < 0 else min(begin, size)
    if length is None:
        return value[begin:]
    count = _number(length)
    if math.isnan(count):
        return ""
    if not math.isfinite(count):
        raise NotFoldable
    count = int(count)
    end = max(size + count, begin) if count < 0 else begin + count
    return value[begin:end]


def _merge(*args: Any) -> list[Any]:
    merged: list[Any] = []
    for arg in args:
        merged.extend(arg if isinstance(arg, list) else [arg])
    return merged


def _string_test(test: Callable[[str, str], bool]) -> Callable[..., bool]:
    def operation(*args: Any) -> bool:
        if len(args) != 2 or not all(isinstance(arg, str) for arg in args):
            raise NotFoldable  # an error or null, depending on the evaluator
        return test(args[0], args[1])

    return operation


Version = tuple[tuple[int, int, int], list[str] | None]

_SEMVER = re.compile(
    r"^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(?:-([0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*))?(?:\+[0-9A-Za-z.-]+)?$"
)


def _version(value: Any) -> Version:
    """A strictly valid semantic version (semver.org 2.0.0); anything else is left to the evaluator,
    since flagd's evaluators differ on prefixes ("v1.2.3") and partial versions ("1.2")."""
    match = _SEMVER.match(value) if isinstance(value, str) else None
    if not match:
        raise NotFoldable
    major, minor, patch, pre = match.groups()
    return (int(major), int(minor), int(patch)), (pre.split(".") if pre else None)


def _precedence(a: Version, b: Version) -> int:
    """-1, 0, 1 as semver.org §11 orders versions (build metadata ignored)."""
    if a[0] != b[0]:
        return -1 if a[0] < b[0] else 1
    pre_a, pre_b = a[1], b[1]
    if pre_a is None or pre_b is None:
        return 0 if pre_a == pre_b else (1 if pre_a is None else -1)
    for x, y in zip(pre_a, pre_b, strict=False):
        if x == y:
            continue
        if x.isdigit() and y.isdigit():
            return -1 if int(x) < int(y) else 1
        if x.isdigit() != y.isdigit():
            return -1 if x.isdigit() else 1
        return -1 if x < y else 1
    return (len(pre_a) > len(pre_b)) - (len(pre_a) < len(pre_b))


def _semantic_version(*args: Any) -> bool:
    if len(args) != 3:
        raise NotFoldable
    left, operator, right = _version(args[0]), args[1], _version(args[2])
    order = _precedence(left, right)
    tests: dict[Any, Callable[[], bool]] = {
        "=": lambda: order == 0,
        "!=": lambda: order != 0,
        "<": lambda: order < 0,
        "<=": lambda: order <= 0,
        ">": lambda: order > 0,
        ">=": lambda: order >= 0,
        "^": lambda: left[0][0] == right[0][0],
        "~": lambda: left[0][:2] == right[0][:2],
    }
    if operator not in tests:
        raise NotFoldable
    return tests[operator]()


def _negate(a: Any = None, *_: Any) -> bool:
    return not truthy(a)


def _boolean(a: Any = None, *_: Any) -> bool:
    return truthy(a)


def _first_two(test: Callable[[Any, Any], bool]) -> Callable[..., bool]:
    def operation(a: Any = None, b: Any = None, *_: Any) -> bool:
        return test(a, b)

    return operation


# The operations folded when every argument is known (`if`, `and`, `or`, `var`, `missing` and
# `missing_some` need the evaluator's control flow or data: migrator/flags/simplify.py handles them).
OPERATIONS: dict[str, Callable[..., Any]] = {
    "==": _first_two(_loose_equal),
    "!=": _first_two(lambda a, b: not _loose_equal(a, b)),
    "===": _first_two(_strict_equal),
    "!==": _first_two(lambda a, b: not _strict_equal(a, b)),
    "<": _comparison(lambda x, y: x < y),
    "<=": _comparison(lambda x, y: x <= y),
    ">": _comparison(lambda x, y: x > y),
    ">=": _comparison(lambda x, y: x >= y),
    "!": _negate,
    "!!": _boolean,
    "+": _add,
    "-": _subtract,
    "*": _multiply,
    "/": _divide,
    "%": _modulo,
    "min": _extreme(min),
    "max": _extreme(max),
    "in": _member,
    "cat": _concatenate,
    "substr": _substring,
    "merge": _merge,
    "starts_with": _string_test(lambda s, prefix: s.startswith(prefix)),
    "ends_with": _string_test(lambda s, suffix: s.endswith(suffix)),
    "sem_ver": _semantic_version,
}


def lookup(data: Any, key: Any, default: Any = None) -> Any:
    """`var`: a dotted path into data; list and string indexes by number, `.length` of lists and strings."""
    if key is None or key == "":
        return data
    if isinstance(key, bool) or not isinstance(key, (str, int, float)):
        raise NotFoldable
    if not isinstance(key, str) and (isinstance(data, dict) or key != int(key)):
        raise NotFoldable  # a number names a list index; on an object evaluators disagree
    return walk(data, text(key).split("."), default)


def walk(data: Any, parts: list[str], default: Any = None) -> Any:
    """Follow a `var` path's parts from `data` (see `lookup`)."""
    for part in parts:
        if isinstance(data, (list, str)):
            if part == "length":
                return len(data)
            if not part.isdigit() or str(int(part)) != part or int(part) >= len(data):
                return default
            data = data[int(part)]
        elif isinstance(data, dict):
            data = data.get(part)
        else:
            return default
    return default if data is None else data
