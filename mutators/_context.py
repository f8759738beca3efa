"""Questions about a site's surroundings shared by the built-in mutators (private: not a mutator
module). Each takes the :class:`~pytest_mlbugs.mutation.SiteContext` the engine gives a mutator
and answers from the code around the site, so that a mutator fires only where its bug can be."""

from __future__ import annotations

import functools

import libcst as cst
import libcst.matchers as m

from pytest_mlbugs.mutation import SiteContext

from ._patterns import callee_name, code, dotted_name, words


def scope_words(context: SiteContext) -> set[str]:
    """The words of the names of the functions and classes around the site."""
    return {w for name in context.scope_names for w in words(name)}


_NO_GRAD = ("no_grad", "inference_mode")


def is_no_grad(expr: cst.BaseExpression) -> bool:
    target = expr.func if isinstance(expr, cst.Call) else expr
    name = dotted_name(target)
    return name is not None and name.split(".")[-1] in _NO_GRAD


def under_no_grad(context: SiteContext) -> bool:
    """Whether the site runs without autograd: inside ``with torch.no_grad():`` (or
    ``inference_mode``), or in a function decorated with either."""
    for ancestor in context.ancestors:
        if isinstance(ancestor, cst.With) and any(is_no_grad(item.item) for item in ancestor.items):
            return True
        if isinstance(ancestor, cst.FunctionDef) and any(
            is_no_grad(d.decorator) for d in ancestor.decorators
        ):
            return True
    return False


_MODULE_BASES = ("Module", "LightningModule")


def is_module_class(context: SiteContext, cls: cst.ClassDef | None = None) -> bool:
    """Whether the site's class (or ``cls``) is a ``torch.nn.Module``: one of its bases is
    ``nn.Module`` (under any import), another ``nn.*`` layer, or a class of the same module that
    is one."""
    cls = cls or context.class_def
    if cls is None:
        return False
    module = context.module
    local = {}
    if module is not None:
        local = {s.name.value: s for s in module.body if isinstance(s, cst.ClassDef)}
    for base in cls.bases:
        name = dotted_name(base.value)
        if name is None:
            continue
        if name.split(".")[-1] in _MODULE_BASES or name.startswith(("nn.", "torch.nn.")):
            return True
        parent = local.get(name)
        if parent is not None and parent is not cls and is_module_class(context, parent):
            return True
        # a layer imported under its own name (from torch.nn import LayerNorm): ask the scopes
        if any(q.startswith("torch.nn.") for q in context.qualified_names(base.value)):
            return True
    return False


def in_module_method(context: SiteContext) -> bool:
    """Whether the site is in a method of an ``nn.Module`` (its ``__init__`` or ``forward``...)."""
    function = context.function
    cls = context.class_def
    return function is not None and cls is not None and function in cls.body.body and is_module_class(context)


#: words of function names that sample or filter the next token, where logits become a
#: distribution to draw from
SAMPLING_WORDS = frozenset(
    (
        "sample",
        "sampling",
        "top",
        "topk",
        "topp",
        "nucleus",
        "min",
        "filter",
        "greedy",
        "beam",
        "generate",
        "decode",
    )
)


def in_sampling_code(context: SiteContext) -> bool:
    """Whether the site is in code that turns logits into the next token (top-k/top-p/min-p
    filters, sampling, beam search, generation), by the names of the enclosing functions."""
    names = scope_words(context)
    if names & {"mask", "attention", "attn"}:
        return False  # generate_square_subsequent_mask builds a mask, it samples nothing
    return bool(names & SAMPLING_WORDS) or any(
        n.startswith(("top_", "min_p", "sample")) for n in context.scope_names
    )


def mentions_word(node: cst.CSTNode, *fragments: str) -> bool:
    """Whether a name or attribute inside ``node`` contains one of ``fragments``."""
    for found in m.findall(node, m.Name()):
        assert isinstance(found, cst.Name)
        lower = found.value.lower()
        if any(f in lower for f in fragments):
            return True
    return False


def is_loss_like(expr: cst.BaseExpression) -> bool:
    """A name or call that reads as a loss: ``loss``, ``self.loss_fn(...)``, ``F.nll_loss(...)``."""
    if isinstance(expr, cst.Call):
        name = callee_name(expr) or ""
        return "loss" in name.lower() or "entropy" in name.lower() or "criterion" in name.lower()
    dotted = dotted_name(expr)
    return dotted is not None and "loss" in dotted.split(".")[-1].lower()


def enclosing_statement_index(context: SiteContext) -> tuple[cst.IndentedBlock | cst.Module, int] | None:
    """The block (or module) directly holding the site's statement, and its index there."""
    statement = context.statement
    for ancestor in context.ancestors:
        if isinstance(ancestor, (cst.IndentedBlock, cst.Module)):
            for i, item in enumerate(ancestor.body):
                if item is statement:
                    return ancestor, i
            return None
    return None


def name_available(context: SiteContext, name: str) -> bool:
    """Whether a rewrite may use the global ``name`` (``nn``, ``torch``, ``F``): the module
    binds it. A fragment without a single import (an example, a snippet) and code outside the
    engine cannot tell, and the answer is yes."""
    module = context.module
    if module is None or context.is_global(name):
        return True
    return not m.findall(module, m.Import() | m.ImportFrom())


@functools.lru_cache(maxsize=256)
def _self_attributes(cls: cst.ClassDef) -> frozenset[str]:
    """The names of the ``self.<name>`` attributes a class reads or writes. Kept per class: a
    search asks it at every candidate site of the class, and walking a model's whole class each
    time was a sixth of the time target mode spends finding the mutants of a GPT file."""
    found = m.findall(cls, m.Attribute(value=m.Name("self")))
    return frozenset(a.attr.value for a in found if isinstance(a, cst.Attribute))


def is_cache_name(name: str) -> bool:
    """``k_cache``, ``cache_k``, ``self.key_cache``, ``past_key_values``: a name for cached keys
    or values."""
    lowered = name.lower()
    return "cache" in lowered or "past" in words(name)


def in_cache_class(context: SiteContext) -> bool:
    """Whether the site is in a class that holds a key/value cache: its name says cache, or it
    keeps an attribute named like one (``self.k_cache``, ``self.cache_v``)."""
    cls = context.class_def
    if cls is None:
        return False
    return "cache" in cls.name.value.lower() or any(is_cache_name(a) for a in _self_attributes(cls))


_ATTENTION_WORDS = frozenset(
    ("attn", "att", "attention", "scores", "score", "sim", "dots", "qk", "weights", "attend")
)


def reads_attention(context: SiteContext, expr: cst.BaseExpression) -> bool:
    """Whether ``expr`` holds attention scores or weights: its names say so (``attn``,
    ``scores``, ``sim``...), directly or through the value a name was assigned, or the site
    is in a function or class named for attention."""
    names = words(code(expr))
    if isinstance(expr, (cst.Name, cst.Attribute)):
        source = context.value_of(expr)
        if source is not None:
            names |= words(code(source))
    return bool(names & _ATTENTION_WORDS) or bool(scope_words(context) & {"attention", "attn", "attend"})


_MASK_WORDS = frozenset(
    ("mask", "masks", "causal", "padding", "pad", "keep", "allowed", "allow", "valid", "visible")
)


def is_mask_like(expr: cst.BaseExpression) -> bool:
    """A boolean mask: a name that says so (``mask``, ``causal``, ``keep``...), a comparison,
    its negation, or a call that builds one (``tril``, ``create_causal_mask(...)``)."""
    if isinstance(expr, cst.UnaryOperation) and isinstance(expr.operator, (cst.BitInvert, cst.Not)):
        return is_mask_like(expr.expression)
    if isinstance(expr, cst.Comparison):
        return True
    if isinstance(expr, cst.Call):
        name = callee_name(expr) or ""
        if name in ("tril", "triu", "logical_not", "bool"):
            return True
        return bool(words(name) & _MASK_WORDS) or (
            isinstance(expr.func, cst.Attribute) and is_mask_like(expr.func.value)
        )
    if isinstance(expr, cst.Subscript):
        return is_mask_like(expr.value)
    if isinstance(expr, (cst.Name, cst.Attribute)):
        return bool(words(code(expr).split(".")[-1]) & _MASK_WORDS)
    if isinstance(expr, cst.BinaryOperation) and isinstance(expr.operator, (cst.BitAnd, cst.BitOr)):
        return is_mask_like(expr.left) or is_mask_like(expr.right)
    return False
