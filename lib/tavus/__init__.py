"""Tavus: the API client (`client`) and, beside it, the simulator that stands in for Tavus."""
