"""Node-shape catalogues per cloud, as data with a source for every figure (components/catalogue/alicloud.py)."""

from components.catalogue.model import SOURCE_KEYS, InstanceType, Source

__all__ = ["SOURCE_KEYS", "InstanceType", "Source"]
