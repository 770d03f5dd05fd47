"""Build (or reuse) etcd, kube-apiserver, kube-controller-manager, the KubeRay operator and Kueue.

Everything is built from Go modules through the Go module proxy into a user-level cache keyed
by versions, so a clean clone reuses earlier builds.  Only the standard library is used here so
the script also runs before the project's venv exists:

    python -m harness.build            # build what is missing, print the binary paths
    python -m harness.build --check    # exit 1 if something is missing (no build)
    python -m harness.build --kueue-in-background   # Kueue at the lowest CPU priority, detached

Each binary is built under a lock of its own, so a second build of it (a background one, another
checkout's, a matrix cell's) waits for the first and then finds it cached.
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import functools
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

# KubeRay v1.7.0 is what the provider targets (CRDs in shared/kuberay/crds), but the Go module
# proxy refuses the v1.7.x ray-operator zips ("not available"); v1.6.2 is the newest it serves.
KUBERAY_VERSION = os.environ.get("KUBERAY_OPERATOR_VERSION", "v1.6.2")
# Kubernetes release whose k8s.io/* libraries match KubeRay v1.7.0's go.mod (k8s.io/api v0.36.x).
KUBERNETES_VERSION = os.environ.get("KUBERNETES_VERSION", "v1.36.3")
# The Kueue controller (queueing of RayJobs and RayClusters); the newest release the proxy serves.
KUEUE_VERSION = os.environ.get("KUEUE_VERSION", "v0.17.0")
KUEUE_MODULE = "sigs.k8s.io/kueue"

CACHE = Path(os.environ.get("KUBERAY_HARNESS_CACHE", Path.home() / ".cache" / "airflow-provider-kuberay"))
GO = shutil.which("go") or "/usr/local/go/bin/go"
# Every build: trimmed paths, and no debug information, which the harness never reads: the linker
# drops it (STRIPPED) and the compiler does not write it either (dwarf=false: measured on etcd's cold
# build, 49 s instead of 57, the same binary).
GO_BUILD_FLAGS = ("-trimpath", "-gcflags=all=-dwarf=false")
STRIPPED = "-s -w"


def go_available() -> bool:
    return shutil.which(GO) is not None or Path(GO).is_file()


@dataclass(frozen=True)
class Binaries:
    etcd: Path
    kube_apiserver: Path
    kube_controller_manager: Path
    ray_operator: Path

    @property
    def operator_role(self) -> Path:
        """The operator release's own ClusterRole (config/rbac/role.yaml), saved at build time."""
        return self.ray_operator.parent.parent / "role.yaml"

    def missing(self) -> list[Path]:
        return [
            p
            for p in (
                self.etcd,
                self.kube_apiserver,
                self.kube_controller_manager,
                self.ray_operator,
                self.operator_role,
            )
            if not p.is_file()
        ]


def _go_env() -> dict[str, str]:
    env = dict(os.environ)
    env.setdefault("GOFLAGS", "")
    env["GOFLAGS"] = (env["GOFLAGS"] + " -buildvcs=false").strip()
    env["CGO_ENABLED"] = "0"
    # No toolchain switching: the machine's Go must be new enough.
    env.setdefault("GOTOOLCHAIN", "local")
    return env


def _run(cmd: list[str], cwd: Path | None = None) -> str:
    print("+", " ".join(cmd), flush=True)
    proc = subprocess.run(cmd, cwd=cwd, env=_go_env(), check=True, text=True, stdout=subprocess.PIPE)
    return proc.stdout


def _module_gomod(module: str, version: str) -> dict:
    """Download a module's go.mod through the proxy and return it parsed by `go mod edit -json`."""
    info = json.loads(_run([GO, "mod", "download", "-json", f"{module}@{version}"]))
    if info.get("Error"):
        raise SystemExit(f"cannot download {module}@{version}: {info['Error']}")
    return json.loads(_run([GO, "mod", "edit", "-json", info["GoMod"]]))


def _staging_version(k8s_version: str) -> str:
    # Kubernetes v1.X.Y publishes its staging modules (k8s.io/api, ...) as v0.X.Y.
    major, minor, patch = k8s_version.lstrip("v").split(".")
    assert major == "1", k8s_version
    return f"v0.{minor}.{patch}"


def _etcd_version(kgomod: dict) -> str:
    for req in kgomod["Require"]:
        if req["Path"] == "go.etcd.io/etcd/server/v3":
            return req["Version"]
    raise SystemExit("k8s.io/kubernetes go.mod does not name go.etcd.io/etcd/server/v3")


def kueue_binary() -> Path:
    """Where the Kueue manager is built (``cmd/kueue`` of its module), keyed by version."""
    return CACHE / f"kueue-{KUEUE_VERSION}" / "bin" / "kueue"


def binaries() -> Binaries:
    kdir = CACHE / f"kubernetes-{KUBERNETES_VERSION}" / "bin"
    return Binaries(
        etcd=CACHE / "etcd" / "bin" / "etcd",  # resolved to a versioned dir by ensure()
        kube_apiserver=kdir / "kube-apiserver",
        kube_controller_manager=kdir / "kube-controller-manager",
        ray_operator=CACHE / f"kuberay-{KUBERAY_VERSION}" / "bin" / "ray-operator",
    )


def _write_wrapper(
    wdir: Path,
    module: str,
    go_version: str,
    requires: dict[str, str],
    replaces: dict[str, tuple[str, str]],
    godebug: list[dict],
    main_go: str | None,
) -> None:
    wdir.mkdir(parents=True, exist_ok=True)
    lines = [f"module {module}", "", f"go {go_version}", ""]
    for gd in godebug:
        lines.append(f"godebug {gd['Key']}={gd['Value']}")
    if godebug:
        lines.append("")
    lines.append("require (")
    lines += [f"\t{p} {v}" for p, v in sorted(requires.items())]
    lines.append(")")
    if replaces:
        lines += ["", "replace ("]
        lines += [f"\t{p} => {np} {nv}" for p, (np, nv) in sorted(replaces.items())]
        lines.append(")")
    (wdir / "go.mod").write_text("\n".join(lines) + "\n")
    if main_go is not None:
        (wdir / "main.go").write_text(main_go)


def _timed(name: str, fn: Callable[[], object]) -> None:
    t0 = time.monotonic()
    fn()
    print(f"[harness.build] {name}: {time.monotonic() - t0:.1f}s", flush=True)


def _lock_file(target: Path) -> Path:
    return target.with_name(target.name + ".lock")


@contextlib.contextmanager
def _lock(target: Path) -> Iterator[bool]:
    """Hold ``target``'s build lock, waiting for a build of it already under way; yields whether it
    is still missing (so needs building by the holder)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    with open(_lock_file(target), "w") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            t0 = time.monotonic()
            print(f"[harness.build] {target.name}: waiting for the build under way", flush=True)
            fcntl.flock(lock, fcntl.LOCK_EX)
            print(f"[harness.build] {target.name}: waited {time.monotonic() - t0:.1f}s", flush=True)
        yield not target.is_file()


def build_kubernetes(kgomod: dict) -> None:
    staging = _staging_version(KUBERNETES_VERSION)
    wdir = CACHE / f"kubernetes-{KUBERNETES_VERSION}" / "wrapper"
    # Every local-path replace of the release's go.mod (./staging/src/k8s.io/X) becomes a pin
    # to the published module k8s.io/X at the matching v0 version.
    replaces: dict[str, tuple[str, str]] = {}
    for rep in kgomod.get("Replace") or []:
        new = rep["New"]
        if new["Path"].startswith("./staging/"):
            replaces[rep["Old"]["Path"]] = (rep["Old"]["Path"], staging)
    if not replaces:
        raise SystemExit("no staging replaces found in k8s.io/kubernetes go.mod")
    _write_wrapper(
        wdir,
        "local/kubernetes-wrapper",
        kgomod["Go"],
        {"k8s.io/kubernetes": KUBERNETES_VERSION},
        replaces,
        kgomod.get("Godebug") or [],
        main_go=None,
    )
    (wdir / "doc.go").write_text("// Package wrapper only exists to build Kubernetes commands.\npackage wrapper\n")
    # `go get` on the command packages records exactly the requirements and sums they need.
    _run(
        [
            GO,
            "get",
            *(f"k8s.io/kubernetes/cmd/{c}@{KUBERNETES_VERSION}" for c in ("kube-apiserver", "kube-controller-manager")),
        ],
        cwd=wdir,
    )
    minor = KUBERNETES_VERSION.lstrip("v").split(".")[1]
    pkg = "k8s.io/component-base/version"
    ldflags = (
        f"{STRIPPED} -X {pkg}.gitVersion={KUBERNETES_VERSION} -X {pkg}.gitMajor=1 "
        f"-X {pkg}.gitMinor={minor} -X {pkg}.gitTreeState=clean"
    )
    out = binaries()
    for cmd, target in (
        ("kube-apiserver", out.kube_apiserver),
        ("kube-controller-manager", out.kube_controller_manager),
    ):
        with _lock(target) as missing:
            if not missing:
                print(f"[harness.build] {cmd}: cached at {target}")
                continue
            tmp = target.with_suffix(".tmp")
            _timed(
                cmd,
                functools.partial(
                    _run,
                    [GO, "build", *GO_BUILD_FLAGS, "-ldflags", ldflags, "-o", str(tmp), f"k8s.io/kubernetes/cmd/{cmd}"],
                    cwd=wdir,
                ),
            )
            tmp.rename(target)


ETCD_MAIN = """// Command etcd: the etcd server, built from the go.etcd.io/etcd/server/v3 module.
package main

import (
\t"os"

\t"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() { etcdmain.Main(os.Args) }
"""


def build_etcd(version: str) -> Path:
    root = CACHE / f"etcd-{version}"
    target = root / "bin" / "etcd"
    with _lock(target) as missing:
        if missing:
            _build_etcd(version, root, target)
        else:
            print(f"[harness.build] etcd: cached at {target}")
    return target


def _build_etcd(version: str, root: Path, target: Path) -> None:
    wdir = root / "wrapper"
    # The server module's own replace directives point into etcd's repository and are ignored
    # for dependencies, hence this wrapper pinning the sibling modules to the same version.
    reqs = {
        m: version
        for m in (
            "go.etcd.io/etcd/server/v3",
            "go.etcd.io/etcd/api/v3",
            "go.etcd.io/etcd/client/pkg/v3",
            "go.etcd.io/etcd/client/v3",
            "go.etcd.io/etcd/pkg/v3",
        )
    }
    sgomod = _module_gomod("go.etcd.io/etcd/server/v3", version)
    _write_wrapper(wdir, "local/etcd-wrapper", sgomod["Go"], reqs, {}, [], ETCD_MAIN)
    _run([GO, "mod", "tidy"], cwd=wdir)
    tmp = target.with_suffix(".tmp")
    tmp.parent.mkdir(parents=True, exist_ok=True)
    _timed("etcd", lambda: _run([GO, "build", *GO_BUILD_FLAGS, "-ldflags", STRIPPED, "-o", str(tmp), "."], cwd=wdir))
    tmp.rename(target)


def _go_install(name: str, package: str, target: Path) -> None:
    """``go install package@version`` (trimmed, stripped) into a scratch GOBIN, then moved to ``target``."""
    gobin = target.parent / "tmp"
    gobin.mkdir(parents=True, exist_ok=True)
    os.environ["GOBIN"] = str(gobin)
    try:
        _timed(name, lambda: _run([GO, "install", *GO_BUILD_FLAGS, "-ldflags", STRIPPED, package]))
    finally:
        os.environ.pop("GOBIN", None)
    (gobin / package.split("@")[0].rsplit("/", 1)[-1]).rename(target)
    gobin.rmdir()


def build_operator() -> None:
    target = binaries().ray_operator
    with _lock(target) as missing:
        if missing:
            # The module's main package is its root (main.go), so `go install` names the module.
            _go_install("ray-operator", f"github.com/ray-project/kuberay/ray-operator@{KUBERAY_VERSION}", target)
        else:
            print(f"[harness.build] ray-operator: cached at {target}")
        save_operator_role()


def build_kueue() -> Path:
    """The Kueue manager, like the operator: ``go install`` of its command package (no wrapper needed:
    the module's go.mod has no replace directives)."""
    target = kueue_binary()
    with _lock(target) as missing:
        if missing:
            _go_install("kueue", f"{KUEUE_MODULE}/cmd/kueue@{KUEUE_VERSION}", target)
        else:
            print(f"[harness.build] kueue: cached at {target}")
    return target


def _under_way(target: Path) -> bool:
    """Whether a build of ``target`` holds its lock now."""
    if not _lock_file(target).is_file():
        return False
    with open(_lock_file(target), "a") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
    return False


def _lowest_cpu_priority() -> None:
    """In a new session: nice 19 for it and for its session's scheduling group. A Go build is thousands
    of short compiler processes, each starting level with the running ones whatever its nice level;
    the kernel's autogroup (one group a session) weighs the group as a whole instead."""
    with contextlib.suppress(OSError):  # no autogroup scheduling: the processes' nice level still holds
        Path("/proc/self/autogroup").write_text("19")
    os.nice(19)


def build_kueue_in_background() -> None:
    """Start Kueue's build in a detached process at the lowest CPU priority (its log beside it).

    Kueue is 3 of the cold build's 9 minutes on two cores, and only its own tests need it: built
    this way it uses the cores the test tiers leave idle while they wait on pods, and the Kueue
    tests wait for it (``build_kueue`` takes the same lock)."""
    log = kueue_binary().parent.parent / "build.log"
    if _under_way(kueue_binary()):
        print(f"[harness.build] kueue: its build is under way, log {log}", flush=True)
        return
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("w") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "harness.build", "--only", "kueue"],
            cwd=Path(__file__).resolve().parent.parent,
            stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
            start_new_session=True, preexec_fn=_lowest_cpu_priority,
        )  # fmt: skip
    print(f"[harness.build] kueue: building in the background (pid {proc.pid}, nice 19), log {log}", flush=True)


def kueue_module_dir(timeout: float = 300.0) -> Path | None:
    """The Kueue release's module in Go's module cache (its CRDs and RBAC are read from there, not
    copied into this repository); ``None`` without Go or when it cannot be fetched."""
    if not go_available():
        return None
    try:
        done = subprocess.run(
            [GO, "mod", "download", "-json", f"{KUEUE_MODULE}@{KUEUE_VERSION}"],
            capture_output=True, text=True, timeout=timeout, env=_go_env(), cwd="/", check=False,
        )  # fmt: skip
    except subprocess.TimeoutExpired:
        return None
    folder = Path(json.loads(done.stdout or "{}").get("Dir") or "/nonexistent")
    return folder if folder.is_dir() else None


def save_operator_role() -> Path:
    """Keep the release's own ClusterRole next to the binary (the module cache may be cleaned)."""
    dest = binaries().operator_role
    if not dest.is_file():
        modcache = _run([GO, "env", "GOMODCACHE"]).strip()
        module_dir = Path(modcache) / f"github.com/ray-project/kuberay/ray-operator@{KUBERAY_VERSION}"
        src = module_dir / "config" / "rbac" / "role.yaml"
        if not src.is_file():
            _run([GO, "mod", "download", f"github.com/ray-project/kuberay/ray-operator@{KUBERAY_VERSION}"])
        dest.write_text(src.read_text())
    return dest


def release_crd_dir(version: str = KUBERAY_VERSION, timeout: float = 300.0) -> Path | None:
    """
    A KubeRay release's own CRDs (``config/crd/bases`` of its ray-operator module, fetched through
    the Go module proxy; a cached module costs nothing); ``None`` without Go or when it cannot be fetched.
    """
    if not go_available():
        return None
    env = {**_go_env(), "GOFLAGS": "-mod=mod"}
    module = f"github.com/ray-project/kuberay/ray-operator@{version}"
    try:
        done = subprocess.run(
            [GO, "mod", "download", "-json", module],
            capture_output=True, text=True, timeout=timeout, env=env, cwd="/", check=False,
        )  # fmt: skip
    except subprocess.TimeoutExpired:
        return None
    folder = Path(json.loads(done.stdout or "{}").get("Dir") or "/nonexistent") / "config" / "crd" / "bases"
    return folder if folder.is_dir() else None


def etcd_binary() -> Path | None:
    """The cached etcd binary for the configured Kubernetes release, without any network."""
    link = CACHE / f"kubernetes-{KUBERNETES_VERSION}" / "etcd-version"
    if not link.is_file():
        return None
    p = CACHE / f"etcd-{link.read_text().strip()}" / "bin" / "etcd"
    return p if p.is_file() else None


def resolved() -> Binaries | None:
    """All four binaries if they are already built, else None."""
    etcd = etcd_binary()
    b = binaries()
    if etcd is None:
        return None
    b = Binaries(etcd, b.kube_apiserver, b.kube_controller_manager, b.ray_operator)
    return None if b.missing() else b


def kueue_wanted() -> bool:
    """Kueue is built with the rest unless ``KUBERAY_HARNESS_KUEUE=0`` (its tests then skip, saying so)."""
    return os.environ.get("KUBERAY_HARNESS_KUEUE", "1") != "0"


def ensure(only: set[str] | None = None, kueue_in_background: bool = False) -> Binaries:
    got = resolved()
    kueue = (not only or "kueue" in only) and kueue_wanted()
    if got is not None and (not kueue or kueue_binary().is_file()):
        print("[harness.build] all binaries cached")
        return got
    t0 = time.monotonic()
    CACHE.mkdir(parents=True, exist_ok=True)
    (CACHE / f"kubernetes-{KUBERNETES_VERSION}" / "bin").mkdir(parents=True, exist_ok=True)
    (CACHE / f"kuberay-{KUBERAY_VERSION}" / "bin").mkdir(parents=True, exist_ok=True)
    if kueue and kueue_in_background and not kueue_binary().is_file():
        build_kueue_in_background()  # first: it takes the cores whenever the builds below leave one idle
        kueue = False
    core = only is None or bool(only & {"etcd", "operator", "kubernetes"})
    if got is None and core:
        kgomod = _module_gomod("k8s.io/kubernetes", KUBERNETES_VERSION)
        etcd_version = _etcd_version(kgomod)
        if not only or "etcd" in only:
            build_etcd(etcd_version)
            (CACHE / f"kubernetes-{KUBERNETES_VERSION}" / "etcd-version").write_text(etcd_version + "\n")
        if not only or "operator" in only:
            build_operator()
        if not only or "kubernetes" in only:
            build_kubernetes(kgomod)
    if kueue:
        build_kueue()
    print(f"[harness.build] total: {time.monotonic() - t0:.1f}s", flush=True)
    got = resolved()
    if got is None and not only:
        raise SystemExit("build finished but binaries are missing")
    return got or binaries()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m harness.build")
    ap.add_argument("--check", action="store_true", help="only report whether all binaries exist")
    ap.add_argument("--only", action="append", choices=["etcd", "operator", "kubernetes", "kueue"])
    ap.add_argument(
        "--kueue-in-background",
        action="store_true",
        help="build Kueue in a detached process at the lowest CPU priority (its tests wait for it)",
    )
    args = ap.parse_args(argv)
    if args.check:
        got = resolved()
        print("built" if got else "missing")
        return 0 if got else 1
    if not go_available():
        print("[harness.build] Go toolchain not found: cannot build the Kubernetes tier", file=sys.stderr)
        return 2
    b = ensure(set(args.only) if args.only else None, kueue_in_background=args.kueue_in_background)
    for name, path in vars(b).items():
        print(f"{name}={path}")
    if kueue_binary().is_file():
        print(f"kueue={kueue_binary()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
