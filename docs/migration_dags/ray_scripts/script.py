import ray

ray.init()
print("nodes in the cluster:", len(ray.nodes()))
