"""The notebooks run top to bottom under nbmake (`make test`). The three that train several
studies each (02: balancing and routers, 03: scaling fit, 06: fleet routing and the lambda
sweep; 60-100 s each on 2 cores) are marked ``slow``, so that the default suite stays within
CI's budget: their studies run at smoke scale in ``tests/studies`` and ``tests/fleet``, and
``make test-all`` runs the notebooks themselves."""

import pytest

SLOW_NOTEBOOKS = ("02_balancing_and_routers.ipynb", "03_scaling_laws.ipynb", "06_fleet_routing.ipynb")


def pytest_collection_modifyitems(config, items):
    for item in items:
        if item.path.name in SLOW_NOTEBOOKS:
            item.add_marker(pytest.mark.slow)
