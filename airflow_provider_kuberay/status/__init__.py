"""Status layer: pure interpretation of KubeRay and Ray job status documents into verdicts (no I/O)."""
