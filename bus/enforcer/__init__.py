"""The enforcer: between what agencies publish and what back offices receive."""
