"""Strongly connected components of the dependency graph between tables' subsets."""

from __future__ import annotations

from collections.abc import Iterable


def strongly_connected(nodes: Iterable[str], edges: dict[str, set[str]]) -> list[list[str]]:
    """Tarjan's algorithm; components come out in dependency order (a component after those it
    depends on), which is the order in which their subsets can be defined."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(edges.get(node, ())):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            components.append(sorted(component))

    for node in sorted(nodes):
        if node not in index:
            visit(node)
    return components


def load_order(tables: Iterable[str], parents: dict[str, set[str]]) -> list[str]:
    """Tables with parents before children; the tables of a cycle stay together, by name.
    `parents` maps a table to the tables its foreign keys point at."""
    return [t for component in strongly_connected(tables, parents) for t in component]


def cyclic_tables(tables: Iterable[str], parents: dict[str, set[str]]) -> set[str]:
    """The tables that sit on a cycle of foreign keys, a table pointing at itself included."""
    result: set[str] = set()
    for component in strongly_connected(tables, parents):
        if len(component) > 1 or component[0] in parents.get(component[0], set()):
            result |= set(component)
    return result
