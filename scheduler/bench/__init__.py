"""``dfscan bench``: speed of the scan against its decode-only floor and a CNN peer."""
