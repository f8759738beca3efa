from __future__ import annotations

from collections.abc import Sequence

import libcst as cst

from pytest_mlbugs.api import Category, Example, Layer, Mutator, Replacement

from ._llm_runtime import same_code
from ._patterns import callee_name, dotted_name, replace_arg, statement_call


def _save_target(statement: cst.BaseStatement) -> tuple[cst.Call, int] | None:
    """``torch.save(obj, target)``: the call and the index of its target argument."""
    call = statement_call(statement)
    if call is None or dotted_name(call.func) != "torch.save" or len(call.args) < 2:
        return None
    return (call, 1) if call.args[1].keyword is None else None


def _rename(statement: cst.BaseStatement) -> tuple[cst.BaseExpression, cst.BaseExpression] | None:
    """``(source, destination)`` of ``os.replace(src, dst)``, ``os.rename``, ``shutil.move``,
    or ``Path(src).replace(dst)`` / ``src.rename(dst)``."""
    call = statement_call(statement)
    if call is None or callee_name(call) not in ("replace", "rename", "move"):
        return None
    positional = [a.value for a in call.args if a.keyword is None and not a.star]
    if dotted_name(call.func) in ("os.replace", "os.rename", "shutil.move") and len(positional) == 2:
        return positional[0], positional[1]
    if (
        isinstance(call.func, cst.Attribute)
        and dotted_name(call.func) not in ("os.replace", "os.rename")
        and len(positional) == 1
    ):
        source = call.func.value
        if isinstance(source, cst.Call) and callee_name(source) == "Path" and len(source.args) == 1:
            source = source.args[0].value
        return source, positional[0]
    return None


class CheckpointWrittenInPlace(Mutator):
    """The checkpoint is written straight to its final path instead of to a temporary file
    that replaces it once complete.

    A job killed while ``torch.save`` writes (a preemption, an out-of-memory kill, a full disk)
    leaves a truncated file where the last good checkpoint was: the run cannot resume and the
    work since the previous save is lost, or worse, all of it. Writing to a temporary file in
    the same folder and ``os.replace``-ing it over the path makes the switch atomic. Sites: a
    ``torch.save`` to a file that a later statement of the block renames onto the real path;
    the save then targets the real path and the rename goes.
    """

    bug_id = "checkpoint_written_in_place"
    components = ("checkpoint",)
    category = Category.STATE_DEVICE
    layer = Layer.UPDATES
    description = "write the checkpoint in place: a crash mid-write destroys the previous one"
    symptom = "after a preemption the checkpoint is truncated and the run cannot resume"
    hint = "kill the process while it saves: does the old checkpoint still load?"
    fix = "torch.save to a temporary file in the same folder, then os.replace(tmp, path)"
    node_types = (cst.IndentedBlock,)
    EXAMPLES = (
        Example(
            "def save(state, path):\n"
            "    tmp_path = path + '.tmp'\n"
            "    torch.save(state, tmp_path)\n"
            "    os.replace(tmp_path, path)\n",
            "def save(state, path):\n    tmp_path = path + '.tmp'\n    torch.save(state, path)\n",
        ),
        Example(
            "def save(self, state, filepath):\n"
            "    torch.save(state, self.tmp)\n"
            "    Path(self.tmp).rename(filepath)\n",
            "def save(self, state, filepath):\n    torch.save(state, filepath)\n",
        ),
    )
    UNCHANGED = (
        "def save(state, path):\n    torch.save(state, path)\n    log(path)\n",
        "def f(a, b, c):\n    torch.save(a, b)\n    os.replace(c, b)\n",
    )

    def mutations(self, node: cst.CSTNode) -> Sequence[Replacement]:
        assert isinstance(node, cst.IndentedBlock)
        found = []
        for i, statement in enumerate(node.body):
            saved = _save_target(statement)
            if saved is None:
                continue
            call, index = saved
            for j in range(i + 1, len(node.body)):
                renamed = _rename(node.body[j])
                if renamed is None or not same_code(renamed[0], call.args[index].value):
                    continue
                body = list(node.body)
                assert isinstance(statement, cst.SimpleStatementLine)
                body[i] = statement.with_deep_changes(
                    statement.body[0], value=replace_arg(call, index, renamed[1])
                )
                del body[j]
                found.append(node.with_changes(body=body))
                break
        return found
