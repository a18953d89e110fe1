"""Lesson 1 (the notebook's Cell 1): set up the environment.

Article section: the paragraph that opens the notebook and runs Cell 1 (load the
libraries).  Where the notebook imports TensorFlow and Keras, we import tinyunet
and ask which array module it runs on: NumPy on any machine, CuPy on an NVIDIA
GPU (``TINYUNET_DEVICE=auto|cpu|gpu``).

    python lessons/lesson1_setup.py [--config tiny|cpu|gpu|auto] [--out DIR]
"""

import os
import platform
import sys

import numpy
import PIL

import tinyunet
from tinyunet import backend, lessons

run = lessons.start(__file__, 1, "Set up: libraries, backend and device", "Cell 1 (setup)")

print(f"Python      {sys.version.split()[0]} on {platform.system()} {platform.machine()}, "
      f"{os.cpu_count()} CPU cores")
print(f"tinyunet    {tinyunet.__version__}")
print(f"NumPy       {numpy.__version__}")
print(f"Pillow      {PIL.__version__}")
if backend.device == "gpu":
    import cupy

    print(f"CuPy        {cupy.__version__} (CUDA runtime {cupy.cuda.runtime.runtimeGetVersion()})")
else:
    print("CuPy        not in use (set TINYUNET_DEVICE=gpu to require it)")
print(f"Backend     {backend.xp.__name__} -> device '{backend.device}': {backend.device_name()}")

config = run.config
print(f"\nConfiguration '{config.name}': {config.image_size} x {config.image_size} slices, "
      f"{config.n_subjects} subjects, {config.epochs} epochs, batch {config.batch_size}, "
      f"Adam learning rate {config.learning_rate:g}, U-Net preset '{config.preset}', organ "
      f"{' + '.join(config.organ)}")
changed = {flag: value for flag, value in config.experiment().items()
           if value != lessons.resolve(config.name).experiment()[flag]}
if changed:
    print("Experiment flags: " + ", ".join(f"{lessons.flag_name(flag)} "
                                           f"{' '.join(map(str, value)) if isinstance(value, list) else value}"
                                           for flag, value in changed.items()))
print(f"Everything this run writes goes to {run.folder}/")
