"""Label keys that KubeRay and Kubernetes put on the objects the provider looks up."""

# KubeRay labels every pod (and service) of a RayCluster with the cluster's name.
CLUSTER_LABEL = "ray.io/cluster"
# Kubernetes labels the pods of a batch Job with the Job's name; KubeRay names a RayJob's submitter
# Job after the RayJob.
JOB_NAME_LABEL = "job-name"
