"""Every registered mutator's own examples hold (the Fixit / cosmic-ray meta-test)."""

from __future__ import annotations

import pytest

from pytest_mlbugs.mutation import find_sites, mutate_source, parse
from pytest_mlbugs.registry import builtin_registry

MUTATORS = builtin_registry().sorted_mutators()


@pytest.mark.parametrize("mutator", MUTATORS, ids=lambda m: m.bug_id)
def test_examples_become_their_buggy_form(mutator):
    assert mutator.EXAMPLES, f"{mutator.bug_id} has no examples"
    for example in mutator.EXAMPLES:
        assert mutate_source(example.before, mutator, example.site) == example.after


@pytest.mark.parametrize("mutator", MUTATORS, ids=lambda m: m.bug_id)
def test_unchanged_examples_offer_no_site(mutator):
    assert mutator.UNCHANGED, f"{mutator.bug_id} has no UNCHANGED examples"
    for source in mutator.UNCHANGED:
        assert find_sites(parse(source), [mutator])[mutator.bug_id] == []


@pytest.mark.parametrize("mutator", MUTATORS, ids=lambda m: m.bug_id)
def test_mutator_finds_a_site_in_every_component_it_claims(mutator, registry):
    for name in mutator.components:
        assert name in registry.components, f"{mutator.bug_id} claims unknown component {name}"
        sites = find_sites(parse(registry.components[name].reference_source), [mutator])
        assert sites[mutator.bug_id], f"{mutator.bug_id} finds no site in reference_impls/{name}.py"
