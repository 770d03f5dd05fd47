"""Specs layer: pure builders and validators of RayCluster, RayJob and RayService bodies (no I/O)."""
