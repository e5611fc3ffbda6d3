"""The part of ROS 2 ``launch``/``launch_ros`` that the package's launch files use, for tests: ``launch`` is not
installable from PyPI here, so this runs a launch file's ``generate_launch_description()`` and turns every
``Node`` into the exact command line launch_ros would start (launch_ros/actions/node.py, Humble to Kilted):

    <executable> <arguments...> [--ros-args <ros_arguments...>] --ros-args [-r __node:=NAME] [-r __ns:=/NS]
        [--params-file FILE | -p name:=value]... [-r from:=to]...

A dict in ``parameters`` becomes a YAML file ``{/NS/NAME: {ros__parameters: ...}}`` (launch_ros's
``_create_params_file_from_dict``), its string values read as YAML unless a ``ParameterValue`` fixes the type.
A namespace of "" is made absolute ("/"), as launch_ros's ``make_namespace_absolute`` does.

``install()`` puts these modules in ``sys.modules`` under the real names; nothing else is faked.
"""

from __future__ import annotations

import importlib.util
import sys
import tempfile
import types
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml


class Context:
    def __init__(self, arguments: dict[str, str]) -> None:
        self.launch_configurations: dict[str, str] = dict(arguments)
        self.log: list[str] = []


class LaunchConfiguration:
    def __init__(self, name: str) -> None:
        self.name = name

    def perform(self, context: Context) -> str:
        if self.name not in context.launch_configurations:
            raise KeyError(f"launch configuration {self.name!r} is not set")
        return context.launch_configurations[self.name]


def perform(value: Any, context: Context) -> Any:
    """A substitution (or a list of them, concatenated) to its text; anything else as it is."""
    if isinstance(value, LaunchConfiguration):
        return value.perform(context)
    if isinstance(value, (list, tuple)) and value and all(isinstance(v, (str, LaunchConfiguration)) for v in value) \
            and any(isinstance(v, LaunchConfiguration) for v in value):
        return "".join(perform(v, context) for v in value)
    return value


@dataclass
class LaunchDescription:
    entities: list = field(default_factory=list)


@dataclass
class DeclareLaunchArgument:
    name: str
    default_value: Any = None
    description: str = ""
    choices: list[str] | None = None


class PythonLaunchDescriptionSource:
    def __init__(self, path: Any) -> None:
        self.path = path


class IncludeLaunchDescription:
    def __init__(self, source: PythonLaunchDescriptionSource, launch_arguments: Iterable | None = None) -> None:
        self.source, self.launch_arguments = source, list(launch_arguments or [])


class OpaqueFunction:
    def __init__(self, function: Callable, args: list | None = None, kwargs: dict | None = None) -> None:
        self.function, self.args, self.kwargs = function, args or [], kwargs or {}


class LogInfo:
    def __init__(self, msg: Any) -> None:
        self.msg = msg


class ParameterValue:
    def __init__(self, value: Any, value_type: type | None = None) -> None:
        self.value, self.value_type = value, value_type


class Node:
    def __init__(self, *, executable: Any, package: Any = None, name: Any = None, namespace: Any = None,
                 parameters: list | None = None, remappings: list | None = None, arguments: list | None = None,
                 ros_arguments: list | None = None, output: str = "log", **_: Any) -> None:
        self.executable, self.package, self.name, self.namespace = executable, package, name, namespace
        self.parameters, self.remappings = parameters, remappings or []
        self.arguments, self.ros_arguments = arguments or [], ros_arguments


@dataclass
class StartedNode:
    """One process of a launch: its executable, launch name (``/ns/name``), the arguments after the executable
    exactly as launch_ros passes them, and the YAML parameters each ``--params-file`` gives it."""

    executable: str
    full_name: str
    argv: list[str]
    params_files: list[str]

    def parameters(self) -> dict[str, Any]:
        """The parameters the node's params files set for it (later files win), read as rcl reads them."""
        out: dict[str, Any] = {}
        for path in self.params_files:
            out.update(_parameters_for(yaml.safe_load(Path(path).read_text()) or {}, self.full_name))
        return out


def _parameters_for(content: dict, full_name: str, prefix: str = "") -> dict[str, Any]:
    """rcl's matching of a params file's node keys (nested namespaces, leading '/', '/**') against ``full_name``."""
    out: dict[str, Any] = {}
    for key, value in content.items():
        if not isinstance(value, dict):
            continue
        name = f"{prefix}/{key.strip('/')}" if key not in ("/**", "**") else "/**"
        if "ros__parameters" in value:
            if name == "/**" or name == full_name:
                out.update(value["ros__parameters"])
        else:
            out.update(_parameters_for(value, full_name, name))
    return out


def _typed(value: Any, context: Context) -> Any:
    """A parameter value as launch_ros evaluates it: text through YAML (``"3"`` is 3), unless a type is given."""
    if isinstance(value, ParameterValue):
        text = perform(value.value, context)
        return value.value_type(text) if value.value_type is not None else _typed(text, context)
    value = perform(value, context)
    if isinstance(value, str):
        loaded = yaml.safe_load(value) if value else ""
        return loaded if isinstance(loaded, (bool, int, float, str)) else value
    return value


def _command(node: Node, context: Context, tmp: Path) -> StartedNode:
    """launch_ros's Node.execute: the command line and the parameter files it writes."""
    executable = perform(node.executable, context)
    argv = [str(perform(a, context)) for a in node.arguments]
    if node.ros_arguments is not None:
        argv += ["--ros-args", *(str(perform(a, context)) for a in node.ros_arguments)]
    argv.append("--ros-args")
    name = perform(node.name, context) if node.name is not None else executable
    if node.name is not None:
        argv += ["-r", f"__node:={name}"]
    namespace = "/"
    if node.namespace is not None:
        namespace = "/" + str(perform(node.namespace, context)).strip("/")
        argv += ["-r", f"__ns:={namespace}"]
    full_name = namespace.rstrip("/") + "/" + name
    files = []
    for entry in node.parameters or []:
        if isinstance(entry, dict):
            params = {str(perform(k, context)): _typed(v, context) for k, v in entry.items()}
            path = Path(tempfile.mkstemp(prefix="launch_params_", suffix=".yaml", dir=tmp)[1])
            path.write_text(yaml.dump({full_name: {"ros__parameters": params}}, default_flow_style=False))
            entry = str(path)
        path = str(perform(entry, context))
        files.append(path)
        argv += ["--params-file", path]
    for source, target in node.remappings:
        argv += ["-r", f"{perform(source, context)}:={perform(target, context)}"]
    return StartedNode(executable, full_name, argv, files)


def _load(path: Path) -> LaunchDescription:
    spec = importlib.util.spec_from_file_location(f"launch_file_{path.stem.replace('.', '_')}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.generate_launch_description()


def _visit(entity: Any, context: Context, out: list[StartedNode], tmp: Path) -> None:
    if isinstance(entity, LaunchDescription):
        for child in entity.entities:
            _visit(child, context, out, tmp)
    elif isinstance(entity, DeclareLaunchArgument):
        if entity.name not in context.launch_configurations:
            if entity.default_value is None:
                raise KeyError(f"launch argument {entity.name!r} is required")
            context.launch_configurations[entity.name] = str(perform(entity.default_value, context))
    elif isinstance(entity, IncludeLaunchDescription):
        for key, value in entity.launch_arguments:
            context.launch_configurations[str(perform(key, context))] = str(perform(value, context))
        _visit(_load(Path(str(perform(entity.source.path, context)))), context, out, tmp)
    elif isinstance(entity, OpaqueFunction):
        for action in entity.function(context, *entity.args, **entity.kwargs) or []:
            _visit(action, context, out, tmp)
    elif isinstance(entity, LogInfo):
        context.log.append(str(perform(entity.msg, context)))
    elif isinstance(entity, Node):
        out.append(_command(entity, context, tmp))
    else:
        raise TypeError(f"launch shim does not know {type(entity).__name__}")


def evaluate(launch_file: Path, arguments: dict[str, str], tmp: Path) -> tuple[list[StartedNode], list[str]]:
    """The processes ``ros2 launch <launch_file> name:=value...`` starts, and what it logs (LogInfo)."""
    install()
    context = Context(arguments)
    out: list[StartedNode] = []
    _visit(_load(launch_file), context, out, tmp)
    return out, context.log


def install() -> None:
    """Make ``import launch``, ``launch_ros`` and friends resolve to this module's classes."""
    if getattr(sys.modules.get("launch"), "__launch_shim__", False):
        return
    names = {
        "launch": {"LaunchDescription": LaunchDescription},
        "launch.actions": {"DeclareLaunchArgument": DeclareLaunchArgument, "IncludeLaunchDescription":
                           IncludeLaunchDescription, "OpaqueFunction": OpaqueFunction, "LogInfo": LogInfo},
        "launch.substitutions": {"LaunchConfiguration": LaunchConfiguration},
        "launch.launch_description_sources": {"PythonLaunchDescriptionSource": PythonLaunchDescriptionSource},
        "launch_ros": {},
        "launch_ros.actions": {"Node": Node},
        "launch_ros.parameter_descriptions": {"ParameterValue": ParameterValue},
    }
    for name, members in names.items():
        module = types.ModuleType(name)
        module.__dict__.update(members)
        module.__launch_shim__ = True
        sys.modules[name] = module
