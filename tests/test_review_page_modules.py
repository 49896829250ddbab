"""The review page's ES modules (api/static/*.js) import each other without a cycle.

A cycle works only as long as no module calls into another while loading, and it hides which
module owns what: views take their actions as callbacks instead (see review.js). Read from the
source text, so no browser is needed.
"""

from __future__ import annotations

import re

from helpers import REPO

STATIC = REPO / "api" / "static"
# `import { a, b } from "./x.js";`, `import x from './x.js'`, `import "./x.js"`, and the same for
# `export ... from`, over several lines too.
IMPORT = re.compile(r"""^\s*(?:import|export)\b[^;'"]*?(?:\bfrom\s*)?["']\./([\w.-]+\.js)["']""", re.M)


def module_graph() -> dict[str, set[str]]:
    return {path.name: set(IMPORT.findall(path.read_text(encoding="utf-8"))) for path in STATIC.glob("*.js")}


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle, as the modules along it (the first repeated at the end), or None."""
    done: set[str] = set()
    path: list[str] = []

    def visit(name: str) -> list[str] | None:
        if name in path:
            return path[path.index(name):] + [name]
        if name in done:
            return None
        path.append(name)
        for imported in sorted(graph.get(name, ())):
            if cycle := visit(imported):
                return cycle
        path.pop()
        done.add(name)
        return None

    for name in sorted(graph):
        if cycle := visit(name):
            return cycle
    return None


def test_the_import_parser_reads_every_form_the_modules_use():
    source = 'import { a,\n  b } from "./one.js";\nimport two from \'./two.js\';\nimport "./three.js";\n' \
             'export { c } from "./four.js";\nconst s = "import x from \'./no.js\'";\n'
    assert set(IMPORT.findall(source)) == {"one.js", "two.js", "three.js", "four.js"}


def test_find_cycle_reports_the_modules_along_it():
    assert find_cycle({"a.js": {"b.js"}, "b.js": {"c.js"}, "c.js": {"a.js"}}) == ["a.js", "b.js", "c.js", "a.js"]
    assert find_cycle({"a.js": {"b.js", "c.js"}, "b.js": {"c.js"}, "c.js": set()}) is None


def test_the_review_pages_modules_import_each_other_without_a_cycle():
    graph = module_graph()
    assert "review.js" in graph and graph["review.js"], "no imports read from the entry module"
    missing = {f"{name} -> {imported}" for name, imports in graph.items() for imported in imports
               if imported not in graph}
    assert not missing, f"imports of modules that do not exist: {sorted(missing)}"
    cycle = find_cycle(graph)
    assert cycle is None, "import cycle: " + " -> ".join(cycle)
