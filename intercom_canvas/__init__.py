"""Intercom Canvas Kit inbox app: signature checks, component builders, initialize/submit."""
