"""Operator tools beside the product: the cluster launcher, the load test, GC tuning."""
