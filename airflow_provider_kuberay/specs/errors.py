"""The one error type of the Specs layer: a bad input, named by its field path."""

from __future__ import annotations


class SpecValidationError(ValueError):
    """
    A RayCluster / RayJob / RayService spec that KubeRay would reject or never reconcile.

    The message starts with the field path (``spec.workerGroupSpecs[1].maxReplicas``) and says
    what is allowed, so the user can fix the input without reading KubeRay's source.

    :param path: dotted path of the offending field in the resource body.
    :param problem: what is wrong with the value.
    :param allowed: what would be accepted instead (optional).
    """

    def __init__(self, path: str, problem: str, allowed: str | None = None) -> None:
        self.path = path
        self.problem = problem
        self.allowed = allowed
        message = f"{path}: {problem}"
        if allowed:
            message += f" (allowed: {allowed})"
        super().__init__(message)


def child(path: str, key: str | int) -> str:
    """
    Return the path of a child field: ``child("spec", "suspend") == "spec.suspend"``.

    :param path: the parent path ("" for the document root).
    :param key: a mapping key or a list index.
    """
    if isinstance(key, int):
        return f"{path}[{key}]"
    if "/" in key or " " in key:
        # Keys like nvidia.com/gpu would make the dotted path ambiguous.
        return f'{path}["{key}"]'
    return f"{path}.{key}" if path else key


def yaml_problem(err: Exception) -> str:
    """
    One line saying why YAML text does not parse: where and what (``line 3, column 7: expected ','``).

    :param err: the ``yaml.YAMLError`` raised by the parser.
    """
    mark = getattr(err, "problem_mark", None)
    problem = getattr(err, "problem", None) or type(err).__name__
    where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark is not None else ""
    return f"{where}{problem}"
