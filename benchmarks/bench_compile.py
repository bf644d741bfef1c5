"""How long compiling a 10-operator query expression takes, per dialect (no database needed).

Run: python benchmarks/bench_compile.py [runs]

Prints the median over many runs of (a) building the expression (the
operators and their heading rules) and (b) compiling its node tree to SQL
for SQLite, PostgreSQL and MySQL. User SQL fragments are parsed once and
cached, as in a session that runs the same kind of query repeatedly; the
first (cold) compile, and build + compile with the parse caches emptied
before every run, are printed too.
"""

from __future__ import annotations

import statistics
import sys
import time

import djframe as dj
from djframe.backends.mysql.driver import MySQLBackend
from djframe.backends.postgres.driver import PostgresBackend
from djframe.backends.sqlite.driver import SQLiteBackend
from djframe.define.heading import Attribute, Heading
from djframe.query import nodes as n
from djframe.query import usersql
from djframe.query.compile import Compiler
from djframe.query.expression import QueryExpression
from djframe.define.types import parse_type

CONNECTION = object()


def table(name, key, secondary, inherited=()):
    attrs = [Attribute(a, parse_type("int32"), in_key=True,
                       lineage=f"s.{dict(inherited).get(a, name)}.{a}") for a in key]
    attrs += [Attribute(a, parse_type("float64"), nullable=True) for a in secondary]
    return QueryExpression(n.TableNode(Heading(tuple(attrs), name), "s", name), CONNECTION)


SUBJECT = table("subject", ["subject_id"], ["weight", "age"])
SESSION = table("session", ["subject_id", "session_id"], ["duration"], [("subject_id", "subject")])
TRIAL = table("trial", ["subject_id", "session_id", "trial_id"], ["response", "rt"],
              [("subject_id", "subject"), ("session_id", "session")])


def build():
    """Ten operators: restrict x3, join x2, proj x2, aggr, Top, semijoin."""
    good = TRIAL & "rt < 2.5" & {"response": 1}                                  # 2
    sessions = SESSION.proj("duration", minutes="duration / 60")                  # 3
    per_session = sessions.aggr(good, n="count(*)", mean_rt="avg(rt)")          # 4
    joined = (per_session * SUBJECT) & "age > 30"                                 # 5, 6
    busy = joined - (SESSION & "duration < 10")                                   # 7
    top = busy & dj.Top(5, "mean_rt DESC")                                        # 8
    return top.proj("n", "mean_rt", "weight") * SESSION.proj()                    # 9, 10


def median_us(fn, runs):
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1e6


def main(runs=2000):
    backends = {"sqlite": SQLiteBackend(":memory:"), "postgresql": PostgresBackend.__new__(PostgresBackend),
                "mysql": MySQLBackend.__new__(MySQLBackend)}
    expr = build()
    print(f"10-operator expression, median of {runs} runs")
    print(f"  build the expression (operators + headings): {median_us(build, runs):8.1f} us")
    for name, backend in backends.items():
        start = time.perf_counter()
        Compiler(backend).sql(expr._node)
        cold = (time.perf_counter() - start) * 1e6
        warm = median_us(lambda: Compiler(backend).sql(expr._node), runs)
        print(f"  compile to SQL, {name:<10}: {warm:8.1f} us   (first compile in the process: {cold:8.1f} us)")
    pg = backends["postgresql"]
    print(f"  build + compile, postgresql: {median_us(lambda: Compiler(pg).sql(build()._node), runs):8.1f} us")

    def uncached():
        usersql.parse.cache_clear()
        usersql.template.cache_clear()
        Compiler(pg).sql(build()._node)

    print(f"  build + compile, postgresql, user SQL parsed afresh (7 fragments): "
          f"{median_us(uncached, max(runs // 10, 20)):8.1f} us")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 2000)
