"""Backbone families; importing this module registers every model."""
