"""The public API, used the way a third party uses it: through ``pytest_mlbugs.api`` alone."""

from __future__ import annotations

import inspect
from collections.abc import Sequence

import libcst as cst
import pytest

from pytest_mlbugs import api
from pytest_mlbugs.api import (
    Category,
    Component,
    Example,
    Layer,
    Mutator,
    Registry,
    RegistryError,
    Replacement,
    Suite,
    builtin_registry,
    find_sites,
    mutate_source,
    mutator_problems,
    parse,
)


def make_mutator(bug_id: str = "relu_to_sigmoid", **overrides: object) -> type[Mutator]:
    """A small valid mutator: ``relu`` calls become ``sigmoid`` calls."""

    def mutations(self: Mutator, node: cst.CSTNode) -> Sequence[Replacement]:
        assert isinstance(node, cst.Call)
        if isinstance(node.func, cst.Attribute) and node.func.attr.value == "relu":
            return (node.with_changes(func=node.func.with_changes(attr=cst.Name("sigmoid"))),)
        return ()

    attributes: dict[str, object] = {
        "__doc__": "relu replaced by sigmoid: activations saturate and gradients vanish.",
        "bug_id": bug_id,
        "components": ("mlp",),
        "category": Category.NUMERICS,
        "layer": Layer.NUMERICS,
        "description": "relu replaced by sigmoid",
        "symptom": "loss decreases slowly",
        "hint": "which activation does the contract name?",
        "fix": "use relu",
        "node_types": (cst.Call,),
        "EXAMPLES": (Example("y = torch.relu(x)\n", "y = torch.sigmoid(x)\n"),),
        "UNCHANGED": ("y = torch.tanh(x)\n",),
        "mutations": mutations,
    }
    attributes.update(overrides)
    return type(bug_id, (Mutator,), attributes)


def mlp_component() -> Component:
    suite = Suite("mlp", names=("forward",), contract="forward(x) -> relu(x)")

    @suite.property(layer=Layer.NUMERICS, symptom="negative activations")
    def never_negative(impl: object) -> None:
        """The activation is never negative."""

    return Component("mlp", suite, "import torch\n\ndef forward(x):\n    return torch.relu(x)\n", "mlp.py")


def test_every_public_name_exists_and_every_public_class_and_function_is_documented():
    assert sorted(api.__all__) == sorted(set(api.__all__))
    for name in api.__all__:
        value = getattr(api, name)
        if inspect.isclass(value) or inspect.isfunction(value):
            assert inspect.getdoc(value), f"pytest_mlbugs.api.{name} has no docstring"
    assert api.MUTATORS_ENTRY_POINT == "pytest_mlbugs.mutators"
    assert api.COMPONENTS_ENTRY_POINT == "pytest_mlbugs.components"
    assert api.MUTATOR_TIME_LIMIT > 0


def test_a_mutator_written_against_the_api_rewrites_its_examples_and_numbers_its_sites():
    mutator = make_mutator()()
    assert mutate_source("y = torch.relu(x)\n", mutator) == "y = torch.sigmoid(x)\n"
    sites = find_sites(parse("a = torch.relu(x)\nb = torch.relu(a)\n"), [mutator])["relu_to_sigmoid"]
    assert [(s.index, s.start_line) for s in sites] == [(0, 1), (1, 2)]
    assert mutate_source("a = torch.relu(x)\nb = torch.relu(a)\n", mutator, 1) == (
        "a = torch.relu(x)\nb = torch.sigmoid(a)\n"
    )


def test_a_good_mutator_has_no_problems_against_its_own_component():
    registry = Registry()
    registry.add_component(mlp_component())
    registry.add_mutator(make_mutator(), origin="test")
    assert mutator_problems(registry.mutators["relu_to_sigmoid"], registry) == []


def test_mutator_problems_names_a_wrong_example_a_site_in_unchanged_and_an_unknown_component():
    broken = make_mutator(
        EXAMPLES=(Example("y = torch.relu(x)\n", "y = torch.tanh(x)\n"),),
        UNCHANGED=("y = torch.relu(x)\n",),
        components=("mlp", "no_such_component"),
    )
    registry = Registry()
    registry.add_component(mlp_component())
    problems = mutator_problems(broken, registry)
    assert any(p.startswith("EXAMPLES[0] does not hold") for p in problems), problems
    assert any(p.startswith("UNCHANGED[0] offers 1 site(s)") for p in problems), problems
    assert any("claims component 'no_such_component'" in p for p in problems), problems


def test_a_mutator_that_finds_no_site_in_a_reference_it_claims_is_a_problem():
    problems = mutator_problems(make_mutator(components=("attention",)), builtin_registry())
    assert problems == [
        "finds no site in reference_impls/attention.py, the reference of 'attention' it claims; "
        "widen its match or drop 'attention' from components"
    ]


def test_two_mutators_claiming_one_bug_id_is_an_error_naming_both_origins():
    registry = Registry()
    registry.add_mutator(make_mutator(), origin="package-a 1.0")
    with pytest.raises(RegistryError) as raised:
        registry.add_mutator(make_mutator(), origin="conftest.py")
    message = str(raised.value)
    assert "bug ID 'relu_to_sigmoid' is claimed twice" in message
    assert "from package-a 1.0" in message and "from conftest.py" in message


def test_a_mutator_registered_without_an_origin_is_named_after_the_file_that_defines_it():
    registry = builtin_registry()
    registry.add_mutator(make_mutator("defined_here"))
    assert registry.mutators["defined_here"].origin.endswith("test_api.py")
    assert registry.mutators["softmax_wrong_dim"].origin == "pytest-mlbugs"


def test_malformed_registrations_are_registry_errors():
    registry = Registry()
    with pytest.raises(RegistryError, match=r"is not a subclass of pytest_mlbugs\.api\.Mutator"):
        registry.add_mutator(object, origin="somewhere")  # type: ignore[arg-type]
    with pytest.raises(RegistryError, match="description must be a non-empty string"):
        registry.add_mutator(make_mutator(description=""), origin="somewhere")
    component = mlp_component()
    registry.add_component(component)
    with pytest.raises(RegistryError, match="component 'mlp' is registered twice"):
        registry.add_component(component)
    with pytest.raises(RegistryError, match="carries the suite of 'mlp'"):
        registry.add_component(Component("other", component.suite, "", "other.py"))
