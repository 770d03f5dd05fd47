"""Label keys that KubeRay and Kubernetes put on the objects the provider looks up."""

# KubeRay labels every pod (and service) of a RayCluster with the cluster's name.
CLUSTER_LABEL = "ray.io/cluster"
# Kubernetes labels the pods of a batch Job with the Job's name; KubeRay names a RayJob's submitter
# Job after the RayJob.
JOB_NAME_LABEL = "job-name"
# Kueue admits a job or cluster that carries its LocalQueue's name in this label (created suspended).
KUEUE_QUEUE_LABEL = "kueue.x-k8s.io/queue-name"
# Kueue orders the workloads of a queue by the WorkloadPriorityClass named in this label.
KUEUE_PRIORITY_LABEL = "kueue.x-k8s.io/priority-class"
