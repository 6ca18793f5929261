"""Every public name of aieng is documented and typed (tab completion shows what it does)."""

import importlib
import inspect
import pkgutil

import pytest

import aieng

MODULES = sorted(m.name for m in pkgutil.walk_packages(aieng.__path__, "aieng.") if not m.name.endswith("__main__"))


@pytest.mark.parametrize("module_name", MODULES)
def test_public_names_have_docstrings_and_annotations(module_name):
    module = importlib.import_module(module_name)
    assert module.__doc__, f"{module_name} has no module docstring"
    for name in getattr(module, "__all__", []):
        obj = getattr(module, name)
        if inspect.isfunction(obj):
            assert obj.__doc__, f"{module_name}.{name} has no docstring"
            signature = inspect.signature(obj)
            assert signature.return_annotation is not inspect.Signature.empty, f"{module_name}.{name} lacks a return type"
            missing = [p for p in signature.parameters.values() if p.annotation is inspect.Parameter.empty]
            assert not missing, f"{module_name}.{name}: parameters without annotations: {missing}"
        elif inspect.isclass(obj):
            assert obj.__doc__, f"{module_name}.{name} has no docstring"
