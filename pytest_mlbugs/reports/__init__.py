"""Report formats shared by the modes: the mutation-testing-report schema (:mod:`.stryker`)."""
