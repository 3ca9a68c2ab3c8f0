"""Pulumi component resources, one per module and concern."""
