"""Writes data.sql beside this file: a small, deterministic stand-in for the employees data set's rows.

The real data set is 167 MB (300,024 employees, 2.8 million salaries) and its dump files are not
in the snapshot this repository was built from, so the rows of `employees`, `dept_emp`, `titles`
and `salaries` are generated here, in the shapes the real data has (current rows end on
9999-01-01, an employee moves between departments, a title history, a yearly salary). The 9
`departments` and 24 `dept_manager` rows are the real ones (load_departments.dump and
load_dept_manager.dump of datacharmer/test_db). Run `python3 generate_data.py` to regenerate;
the same seed gives the same file.
"""

from __future__ import annotations

import datetime as dt
import random
from pathlib import Path

HERE = Path(__file__).resolve().parent
SEED = 20260512
EMPLOYEES = 360
CURRENT = "9999-01-01"

DEPARTMENTS = [
    ("d001", "Marketing"),
    ("d002", "Finance"),
    ("d003", "Human Resources"),
    ("d004", "Production"),
    ("d005", "Development"),
    ("d006", "Quality Management"),
    ("d007", "Sales"),
    ("d008", "Research"),
    ("d009", "Customer Service"),
]
DEPT_MANAGER = [
    (110022, "d001", "1985-01-01", "1991-10-01"),
    (110039, "d001", "1991-10-01", CURRENT),
    (110085, "d002", "1985-01-01", "1989-12-17"),
    (110114, "d002", "1989-12-17", CURRENT),
    (110183, "d003", "1985-01-01", "1992-03-21"),
    (110228, "d003", "1992-03-21", CURRENT),
    (110303, "d004", "1985-01-01", "1988-09-09"),
    (110344, "d004", "1988-09-09", "1992-08-02"),
    (110386, "d004", "1992-08-02", "1996-08-30"),
    (110420, "d004", "1996-08-30", CURRENT),
    (110511, "d005", "1985-01-01", "1992-04-25"),
    (110567, "d005", "1992-04-25", CURRENT),
    (110725, "d006", "1985-01-01", "1989-05-06"),
    (110765, "d006", "1989-05-06", "1991-09-12"),
    (110800, "d006", "1991-09-12", "1994-06-28"),
    (110854, "d006", "1994-06-28", CURRENT),
    (111035, "d007", "1985-01-01", "1991-03-07"),
    (111133, "d007", "1991-03-07", CURRENT),
    (111400, "d008", "1985-01-01", "1991-04-08"),
    (111534, "d008", "1991-04-08", CURRENT),
    (111692, "d009", "1985-01-01", "1988-10-17"),
    (111784, "d009", "1988-10-17", "1992-09-08"),
    (111877, "d009", "1992-09-08", "1996-01-03"),
    (111939, "d009", "1996-01-03", CURRENT),
]
FIRST_NAMES = ["Ada", "Bela", "Chen", "Dara", "Emil", "Fumiko", "Goran", "Hana", "Ivo", "Jana", "Kofi", "Lena",
               "Mateo", "Nadia", "Omar", "Pia", "Quinn", "Rosa", "Sven", "Tomás", "Uma", "Vera", "Wim", "Yuki",
               "Zoë", "Ørjan", "Søren", "Łucja"]  # fmt: skip
LAST_NAMES = ["Abe", "Baptiste", "Costa", "Dvořák", "Eriksen", "Fischer", "Garcia", "Horvat", "Ito", "Jansen",
              "Kowalski", "Lindqvist", "Moreau", "Nakamura", "O'Brien", "Petrov", "Quispe", "Rossi", "Schmidt",
              "Tanaka", "Underwood", "Varga", "Weber", "Xu", "Yilmaz", "Zimmermann"]  # fmt: skip
TITLES = ["Assistant Engineer", "Engineer", "Senior Engineer", "Technique Leader", "Staff", "Senior Staff"]


def _date(day: dt.date) -> str:
    return day.isoformat()


def _random_day(rng: random.Random, start: dt.date, end: dt.date) -> dt.date:
    return start + dt.timedelta(days=rng.randrange((end - start).days))


def _quote(value: object) -> str:
    if isinstance(value, int):
        return str(value)
    return "'" + str(value).replace("\\", "\\\\").replace("'", "''") + "'"


def _insert(table: str, rows: list[tuple]) -> str:
    values = ",\n".join("(" + ",".join(_quote(v) for v in row) + ")" for row in rows)
    return f"INSERT INTO `{table}` VALUES\n{values};\n"


def generate(rng: random.Random) -> dict[str, list[tuple]]:
    managers = {emp_no for emp_no, *_ in DEPT_MANAGER}
    numbers = sorted(set(rng.sample(range(10001, 109999), EMPLOYEES - len(managers))) | managers)
    employees, dept_emp, titles, salaries = [], [], [], []
    for emp_no in numbers:
        hired = _random_day(rng, dt.date(1985, 1, 1), dt.date(1999, 12, 31))
        born = _random_day(rng, dt.date(1952, 2, 1), dt.date(1965, 2, 1))
        employees.append(
            (emp_no, _date(born), rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES), rng.choice("MF"), _date(hired))
        )
        # One department, or two with a move between them; some employees have left (no current row).
        left = rng.random() < 0.15
        end = _random_day(rng, hired + dt.timedelta(days=400), dt.date(2002, 8, 1)) if left else None
        first, second = rng.sample([code for code, _ in DEPARTMENTS], 2)
        if rng.random() < 0.2:
            moved = _random_day(rng, hired + dt.timedelta(days=100), (end or dt.date(2002, 8, 1)))
            dept_emp.append((emp_no, first, _date(hired), _date(moved)))
            dept_emp.append((emp_no, second, _date(moved), _date(end) if end else CURRENT))
        else:
            dept_emp.append((emp_no, first, _date(hired), _date(end) if end else CURRENT))
        start, level = hired, rng.randrange(3)
        while True:
            promoted = start + dt.timedelta(days=rng.randrange(700, 3000))
            last = promoted >= (end or dt.date(2002, 8, 1)) or level == 2
            to_date = (_date(end) if end else CURRENT) if last else _date(promoted)
            titles.append((emp_no, TITLES[level + 3 * rng.randrange(2)], _date(start), to_date))
            if last:
                break
            start, level = promoted, level + 1
        salary, day = rng.randrange(38000, 60000), hired
        stop = end or dt.date(2002, 8, 1)
        while day < stop:
            following = min(day + dt.timedelta(days=365), stop)
            to_date = CURRENT if (following == stop and not end) else _date(following)
            salaries.append((emp_no, salary, _date(day), to_date))
            salary += rng.randrange(0, 4000)
            day = following
    return {
        "departments": list(DEPARTMENTS),
        "employees": employees,
        "dept_emp": dept_emp,
        "dept_manager": list(DEPT_MANAGER),
        "titles": titles,
        "salaries": salaries,
    }


def main() -> None:
    tables = generate(random.Random(SEED))
    header = "-- Generated by generate_data.py (deterministic); see that file and LICENSE.md.\n"
    body = "".join(_insert(table, rows) for table, rows in tables.items())
    (HERE / "data.sql").write_text(header + body, encoding="utf-8")


if __name__ == "__main__":
    main()
