"""CPU, memory and accelerator resources of a Ray container, and the Ray resources they imply."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from airflow_provider_kuberay.specs.errors import SpecValidationError, child
from airflow_provider_kuberay.specs.quantities import QuantityInput, format_quantity, is_whole, parse_quantity

# Accelerators the Ray start command counts as GPUs (KubeRay sets num-gpus for keys ending in "gpu").
GPU_RESOURCES = frozenset({"nvidia.com/gpu", "amd.com/gpu", "intel.com/gpu"})
# Other accelerators and the custom Ray resource that announces them to the Ray scheduler.
CUSTOM_ACCELERATORS: Mapping[str, str] = {
    "google.com/tpu": "TPU",
    "aws.amazon.com/neuroncore": "neuron_cores",
    "habana.ai/gaudi": "HPU",
}
# NVIDIA Multi-Instance GPU slices, e.g. nvidia.com/mig-1g.10gb, are GPUs to Ray as well.
_MIG = re.compile(r"^nvidia\.com/mig-\d+g\.\d+gb$")
KNOWN_ACCELERATORS = ", ".join(sorted(GPU_RESOURCES | set(CUSTOM_ACCELERATORS))) + ", nvidia.com/mig-<g>g.<mem>gb"


def is_gpu_resource(key: str) -> bool:
    """
    Tell whether a Kubernetes resource name is a GPU for Ray.

    :param key: the resource name, e.g. ``nvidia.com/gpu``.
    """
    return key in GPU_RESOURCES or bool(_MIG.match(key))


def is_accelerator(key: str) -> bool:
    """
    Tell whether a Kubernetes resource name is an accelerator the builders know.

    :param key: the resource name.
    """
    return is_gpu_resource(key) or key in CUSTOM_ACCELERATORS


def encode_ray_resources(resources: Mapping[str, float | int]) -> str:
    """
    Encode custom Ray resources for ``rayStartParams["resources"]``.

    KubeRay pastes the value into the ``ray start`` shell command and also parses it (to merge in
    the accelerators it detects), so it is JSON in single quotes, the form KubeRay itself
    writes: ``'{"TPU": 4}'``.

    :param resources: Ray resource name to amount.
    """
    return "'" + json.dumps(dict(resources), sort_keys=True) + "'"


@dataclass(frozen=True)
class Resources:
    """
    Resources of one Ray container.

    Limits default to the requests (Ray sizes itself from them; equal values give the pod the
    Guaranteed class). Accelerators go to the limits, as Kubernetes requires for extended resources.

    :param cpu: CPU request, e.g. ``2``, ``"500m"``.
    :param memory: memory request, e.g. ``"8Gi"``.
    :param cpu_limit: CPU limit; defaults to ``cpu``.
    :param memory_limit: memory limit; defaults to ``memory``.
    :param accelerators: accelerator resource name to a whole count, e.g. ``{"nvidia.com/gpu": 1}``.
    :param extended: other extended resources passed through unchanged (no Ray mapping).
    :param ephemeral_storage: ephemeral-storage request.
    :param ephemeral_storage_limit: ephemeral-storage limit; defaults to ``ephemeral_storage``.
    """

    cpu: QuantityInput | None = None
    memory: QuantityInput | None = None
    cpu_limit: QuantityInput | None = None
    memory_limit: QuantityInput | None = None
    accelerators: Mapping[str, int] = field(default_factory=dict)
    extended: Mapping[str, QuantityInput] = field(default_factory=dict)
    ephemeral_storage: QuantityInput | None = None
    ephemeral_storage_limit: QuantityInput | None = None

    def to_k8s(self, path: str) -> dict[str, dict[str, str]]:
        """
        Return the container ``resources`` dict (requests and limits).

        :param path: path of the container's ``resources`` field, used in errors.
        :raises SpecValidationError: on an unparseable quantity, an unknown or fractional accelerator.
        """
        requests: dict[str, str] = {}
        limits: dict[str, str] = {}
        pairs = (
            ("cpu", self.cpu, self.cpu_limit),
            ("memory", self.memory, self.memory_limit),
            ("ephemeral-storage", self.ephemeral_storage, self.ephemeral_storage_limit),
        )
        for key, request, limit in pairs:
            if request is not None:
                requests[key] = format_quantity(request, child(child(path, "requests"), key))
            if limit is not None:
                limits[key] = format_quantity(limit, child(child(path, "limits"), key))
            elif request is not None:
                limits[key] = requests[key]
        for key, count in self.accelerators.items():
            where = child(child(path, "limits"), key)
            if not is_accelerator(key):
                raise SpecValidationError(where, f"unknown accelerator {key!r}", KNOWN_ACCELERATORS)
            if isinstance(count, bool) or not isinstance(count, (int, float, str)):
                raise SpecValidationError(where, f"{count!r} is not a count", "a whole number >= 0")
            amount = parse_quantity(count, where)
            if not is_whole(amount) or amount < 0:
                raise SpecValidationError(where, f"{count!r} accelerators", "a whole number >= 0")
            limits[key] = str(int(amount))
        for key, value in self.extended.items():
            limits[key] = format_quantity(value, child(child(path, "limits"), key))
        result: dict[str, dict[str, str]] = {}
        if requests:
            result["requests"] = requests
        if limits:
            result["limits"] = limits
        return result

    def ray_start_params(self, extra_ray_resources: Mapping[str, float | int] | None = None) -> dict[str, str]:
        """
        Return the rayStartParams that announce the accelerators to Ray.

        GPUs become ``num-gpus``; TPUs, Neuron cores and Gaudi HPUs become custom Ray resources
        (``resources``), merged with ``extra_ray_resources``.

        :param extra_ray_resources: further custom Ray resources of the group.
        """
        params: dict[str, str] = {}
        gpus = sum(int(n) for key, n in self.accelerators.items() if is_gpu_resource(key))
        if gpus:
            params["num-gpus"] = str(gpus)
        custom: dict[str, Any] = {}
        for key, count in self.accelerators.items():
            if key in CUSTOM_ACCELERATORS and int(count):
                custom[CUSTOM_ACCELERATORS[key]] = int(count)
        custom.update(extra_ray_resources or {})
        if custom:
            params["resources"] = encode_ray_resources(custom)
        return params
