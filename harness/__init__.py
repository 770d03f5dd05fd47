"""Integration-test harness: a real Kubernetes control plane with the real KubeRay operator on loopback."""
