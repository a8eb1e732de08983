"""Semantic diff of generated trees: what changed in API, behaviour, architecture and dependencies.

    from genops.semdiff import diff_trees
    result = diff_trees(Path("old"), Path("new"), old_label="r0002", new_label="generated")
    result.to_json()      # the contract of BRIEF.md "Semantic diff JSON"
    result.breaking       # changes a caller of the old public API can trip on

`build_model(root)` gives a tree's code model and `import_graph(root)` its import edges.
"""

from genops.semdiff.build import TreeModel, build_model, import_graph
from genops.semdiff.changes import FAIL_LEVELS, Category, Change, DiffResult, Kind, Stats
from genops.semdiff.engine import compare_models, diff_trees
from genops.semdiff.imports import module_name

__all__ = ["FAIL_LEVELS", "Category", "Change", "DiffResult", "Kind", "Stats", "TreeModel", "build_model",
           "compare_models", "diff_trees", "import_graph", "module_name"]
