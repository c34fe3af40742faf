"""The environment rules refuse names that change code loading or that the platform owns."""

import pytest

from controlplane.exceptions import ApplicationError
from deployments.services.env import env_validate


@pytest.mark.parametrize(
    "name",
    [
        "PYTHONPATH",
        "PYTHONSTARTUP",
        "LD_PRELOAD",
        "PATH",
        "HOME",
        "CUDA_VISIBLE_DEVICES",
        "SERVING_PORT",
        "CONTROLPLANE_X",
        "DJANGO_SETTINGS_MODULE",
        "GATEWAY_SECRET",
        "AWS_SECRET_ACCESS_KEY",
        "CELERY_BROKER_URL",
        "DATABASE_URL",
        "REDIS_URL",
        "HF_HOME",
    ],
)
def test_reserved_names_are_refused_naming_the_field(name):
    with pytest.raises(ApplicationError) as err:
        env_validate({name: "x"})
    assert err.value.extra == {"field": f"env.{name}"}


@pytest.mark.parametrize("name", ["lower", "1ABC", "A-B", "A B", ""])
def test_malformed_names_are_refused(name):
    with pytest.raises(ApplicationError):
        env_validate({name: "x"})


def test_ordinary_names_pass():
    env_validate({"HF_TOKEN": "x", "OMP_NUM_THREADS": "2", "_X": ""})


def test_values_must_be_strings_without_nul():
    with pytest.raises(ApplicationError):
        env_validate({"A": 1})
    with pytest.raises(ApplicationError):
        env_validate({"A": "a\x00b"})
