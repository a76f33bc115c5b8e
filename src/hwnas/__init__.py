"""hwnas: hardware-aware neural architecture search (ProxylessNAS) on Lightning + Hydra.

Importing the package registers the published and searched architectures with timm
(`timm.create_model("proxyless_mobile")`, `timm.create_model("hwnas_arch", arch_file=...)`).
"""

from hwnas import architecture  # noqa: F401  (registers the timm models)

__version__ = "0.1.0"
