"""
OpenLineage for the operators (the optional ``openlineage`` extra): a run facet naming the Ray work a
task did, and the parent run handed to Ray jobs. Nothing here imports OpenLineage at module level:
``facets`` does, and is imported only when the OpenLineage listener asks for facets.
"""
