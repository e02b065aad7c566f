"""Config validation, overrides and hashing."""

from dataclasses import dataclass, field
from typing import Literal

import pytest

from routerlab.config import ConfigError, check, config_hash, from_dict, override, to_dict


@dataclass(frozen=True)
class Inner:
    num_experts: int = 8
    top_k: int = 2
    capacity_factor: float | None = 1.25
    router: Literal["top_k", "hash"] = "top_k"

    def __post_init__(self):
        check(self.top_k <= self.num_experts, "top_k", f"must be <= num_experts ({self.num_experts}); got {self.top_k}")
        check(self.capacity_factor is None or self.capacity_factor > 0, "capacity_factor", "must be > 0 or null (dropless)")


@dataclass(frozen=True)
class Outer:
    seed: int = 0
    moe: Inner = field(default_factory=Inner)
    weights: tuple[float, ...] = (1.0, 0.5)
    tag: str = "x"

    def __post_init__(self):
        check(all(w >= 0 for w in self.weights), "weights", "must be >= 0")


def test_roundtrip_and_override():
    cfg = Outer()
    assert from_dict(Outer, to_dict(cfg)) == cfg
    new = override(cfg, ["moe.num_experts=16", "moe.top_k=4", "moe.capacity_factor=none", "weights=[2, 3]", "tag=hello"])
    assert new.moe == Inner(num_experts=16, top_k=4, capacity_factor=None)
    assert new.weights == (2.0, 3.0) and new.tag == "hello"
    assert cfg.moe.num_experts == 8  # frozen original untouched


@pytest.mark.parametrize(
    "assignment, field_name, fragment",
    [
        (["moe.nope=1"], "moe.nope", "unknown key; allowed: capacity_factor, num_experts, router, top_k"),
        (["nope.x=1"], "nope", "unknown key"),
        (["moe.top_k=9"], "moe.top_k", "must be <= num_experts (8)"),
        (["moe.capacity_factor=0"], "moe.capacity_factor", "must be > 0"),
        (["moe.capacity_factor=-1.5"], "moe.capacity_factor", "must be > 0"),
        (["moe.router=soft"], "moe.router", "must be one of 'top_k', 'hash'"),
        (["seed=1.5"], "seed", "expected int"),
        (["seed=true"], "seed", "expected int"),
        (["moe.num_experts=eight"], "moe.num_experts", "expected int"),
        (["weights=[1, -1]"], "weights", "must be >= 0"),
        (["weights=3"], "weights", "expected a list of float"),
        (["noequals"], "noequals", "KEY=VALUE"),
    ],
)
def test_bad_overrides_name_the_field(assignment, field_name, fragment):
    with pytest.raises(ConfigError) as info:
        override(Outer(), assignment)
    assert info.value.field == field_name
    assert fragment in str(info.value)
    assert "\n" not in str(info.value)


def test_from_dict_rejects_unknown_and_wrong_types():
    with pytest.raises(ConfigError, match=r"^moe\.extra: unknown key"):
        from_dict(Outer, {"moe": {"extra": 1}})
    with pytest.raises(ConfigError, match=r"^moe: expected a Inner mapping"):
        from_dict(Outer, {"moe": 3})
    assert from_dict(Outer, {"moe": {"capacity_factor": 2}}).moe.capacity_factor == 2.0  # int accepted as float


@dataclass(frozen=True)
class WithOptional:
    moe: Inner | None = None


def test_override_switches_on_an_optional_subconfig_with_defaults():
    cfg = override(WithOptional(), ["moe.num_experts=4", "moe.top_k=1"])
    assert cfg.moe == Inner(num_experts=4, top_k=1)
    assert override(cfg, ["moe=null"]).moe is None
    with pytest.raises(ConfigError, match=r"^moe\.nope: unknown key"):
        override(WithOptional(), ["moe.nope=1"])


def test_hash_is_stable_and_sensitive():
    assert config_hash(Outer()) == config_hash(from_dict(Outer, to_dict(Outer())))
    assert config_hash(Outer()) != config_hash(override(Outer(), ["seed=1"]))
    assert len(config_hash(Outer())) == 8
