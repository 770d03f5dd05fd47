"""TaskFlow decorators of the KubeRay provider (``@task.kuberay``)."""
