"""tinyunet: a from-scratch U-Net on NumPy / CuPy, after Erickson & Cai,
"Magician's Corner: 4. Image Segmentation with U-Net" (Radiology: AI 2020).

Modules: backend, layers, losses, metrics, optimizers, initializers, gradcheck,
models, data, plots, bench.
"""

__version__ = "0.1.0"
